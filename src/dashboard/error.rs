//! How the dashboard's JSON API fails: one readable sentence in `{"error": "..."}` with a status
//! that tells the page whether the person (400, 401, 403, 404) or the cluster (502) is at fault.
//! Pages show the sentence in a banner, never a blank page.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::client::ClientError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The form or query was wrong; nothing was changed.
    #[error("{0}")]
    BadInput(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    /// A name server or broker failed or refused; the text names which and why.
    #[error("{0}")]
    Cluster(String),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadInput(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Cluster(_) => StatusCode::BAD_GATEWAY,
        }
    }
}

impl From<ClientError> for ApiError {
    fn from(e: ClientError) -> ApiError {
        match e {
            ClientError::TopicNotExist(_) | ClientError::NotFound(_) => {
                ApiError::NotFound(e.to_string())
            }
            ClientError::InvalidArgument(_) => ApiError::BadInput(e.to_string()),
            other => ApiError::Cluster(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, "dashboard request failed");
        }
        (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response()
    }
}
