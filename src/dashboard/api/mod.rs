//! The JSON API behind the pages, one file per page. Every handler answers JSON: the data, or
//! an [`ApiError`] sentence the page shows in its banner. GETs only read; every POST validates
//! its whole form before it changes anything, so bad input changes nothing.

pub mod cluster;
pub mod consumers;
pub mod messages;
pub mod schedule_state;
pub mod topics;
pub mod transaction_state;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;

use super::error::{ApiError, ApiResult};
use super::App;

pub type AppState = State<Arc<App>>;

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/api/session", get(session))
        .route("/api/cockpit", get(cluster::cockpit))
        .route("/api/cluster", get(cluster::cluster))
        .route("/api/cluster/node", get(cluster::node))
        .route("/api/raft", get(cluster::raft))
        .route("/api/topics", get(topics::list).post(topics::create))
        .route("/api/topics/{topic}", get(topics::detail))
        .route("/api/topics/{topic}/delete", post(topics::delete))
        .route("/api/consumers", get(consumers::list))
        .route("/api/consumers/{group}", get(consumers::detail))
        .route("/api/consumers/{group}/reset", post(consumers::reset))
        .route("/api/messages", get(messages::by_time).post(messages::send))
        .route("/api/messages/by-key", get(messages::by_key))
        .route("/api/messages/by-id", get(messages::by_id))
}

/// Who is asking and the CSRF token their page must send with changes.
async fn session(State(app): AppState, headers: HeaderMap) -> ApiResult<Json<Value>> {
    let s = app
        .auth
        .session(&headers)
        .ok_or_else(|| ApiError::Unauthorized("not logged in".into()))?;
    Ok(Json(serde_json::json!({
        "user": s.user,
        "admin": s.admin,
        "csrf": s.csrf,
        "loginRequired": app.auth.login_required(),
    })))
}

/// A form posted as a JSON object of strings (numbers and booleans are taken as their text),
/// so every field is validated here with a message naming it.
pub struct Form(HashMap<String, String>);

impl Form {
    pub fn parse(body: &Bytes) -> ApiResult<Form> {
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::BadInput(format!("the form is not JSON: {e}")))?;
        let Value::Object(map) = v else {
            return Err(ApiError::BadInput("the form is not a JSON object".into()));
        };
        let mut out = HashMap::new();
        for (k, v) in map {
            let text = match v {
                Value::String(s) => s,
                Value::Null => continue,
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                other => {
                    return Err(ApiError::BadInput(format!(
                        "field {k} must be text, not {other}"
                    )))
                }
            };
            out.insert(k, text);
        }
        Ok(Form(out))
    }

    /// The trimmed field, or `None` if absent or blank.
    pub fn opt(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|s| s.trim()).filter(|s| !s.is_empty())
    }

    /// The trimmed field; absent or blank is an error naming `label`.
    pub fn required(&self, name: &str, label: &str) -> ApiResult<&str> {
        self.opt(name)
            .ok_or_else(|| ApiError::BadInput(format!("{label} is required")))
    }

    /// The raw (untrimmed) field, for message bodies.
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A whole number in `lo..=hi`, with a message naming `label`.
    pub fn int_in(&self, name: &str, label: &str, lo: i64, hi: i64) -> ApiResult<i64> {
        let v = self.required(name, label)?;
        match v.parse::<i64>() {
            Ok(n) if (lo..=hi).contains(&n) => Ok(n),
            _ => Err(ApiError::BadInput(format!(
                "{label} must be a whole number from {lo} to {hi}, not {v:?}"
            ))),
        }
    }
}

/// Parses a time given as epoch milliseconds.
pub fn millis(v: &str, label: &str) -> ApiResult<i64> {
    v.trim()
        .parse::<i64>()
        .ok()
        .filter(|t| *t >= 0)
        .ok_or_else(|| {
            ApiError::BadInput(format!(
                "{label} must be a time (milliseconds since 1970), not {v:?}"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_validate_with_named_fields() {
        let f = Form::parse(&Bytes::from_static(
            br#"{"topic":" T ","read":"8","write":9000,"blank":"  ","flag":true}"#,
        ))
        .unwrap();
        assert_eq!(f.required("topic", "Topic").unwrap(), "T");
        assert_eq!(f.int_in("read", "Read queues", 1, 1024).unwrap(), 8);
        let e = f.int_in("write", "Write queues", 1, 1024).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Write queues must be a whole number from 1 to 1024, not \"9000\""
        );
        assert!(f.opt("blank").is_none());
        assert_eq!(f.opt("flag"), Some("true"));
        assert!(Form::parse(&Bytes::from_static(b"[1]")).is_err());
        assert!(Form::parse(&Bytes::from_static(br#"{"a":[1]}"#)).is_err());
        assert!(millis("-1", "Begin").is_err());
        assert_eq!(millis("1700000000000", "Begin").unwrap(), 1_700_000_000_000);
    }
}
