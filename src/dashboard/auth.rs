//! Who may see and change what.
//!
//! Two modes, decided at start-up:
//! - **open**: the dashboard listens on a loopback address and has no users file. Only this
//!   host can connect, so every request acts as the local admin. A DNS-rebinding page could
//!   still reach a loopback port through a name of its own, so requests must carry a loopback
//!   `Host` (an IP literal or `localhost`).
//! - **login**: a users file is given (required to listen on any other address). Every page and
//!   API call needs a session cookie from `/login`; mutating calls need a user marked `admin`.
//!
//! In both modes a mutating request (any method but GET/HEAD) must carry the session's CSRF
//! token in `X-CSRF-Token`, and an `Origin`, when present, must be this host. The session
//! cookie is `HttpOnly; SameSite=Strict`, so other sites' pages neither read nor send it.
//!
//! The users file (like rocketmq-dashboard's `users.properties`, but with hashed passwords):
//! ```text
//! # name = argon2 PHC hash [admin]
//! alice = $argon2id$v=19$m=19456,t=2,p=1$...$... admin
//! bob = $argon2id$v=19$m=19456,t=2,p=1$...$...
//! ```
//! `ledgermq dashboard --hash-password` reads a password on stdin and prints its hash.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use parking_lot::Mutex;
use rand::RngCore;

use super::error::ApiError;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "ledgermq_session";
/// The header a mutating request carries its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// A session unused for this long must log in again.
const SESSION_IDLE: Duration = Duration::from_secs(12 * 3600);
/// A failed login waits this long, which bounds password guessing.
const FAILED_LOGIN_DELAY: Duration = Duration::from_millis(500);

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{file}: cannot read the users file: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}:{line}: {message}")]
    Syntax {
        file: String,
        line: usize,
        message: String,
    },
    #[error("{0}: the users file names no user")]
    Empty(String),
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

/// One user of the users file.
#[derive(Debug, Clone)]
struct User {
    /// The argon2 PHC string.
    hash: String,
    admin: bool,
}

/// The users file, parsed.
#[derive(Debug, Clone, Default)]
pub struct Users {
    users: HashMap<String, User>,
}

impl Users {
    pub fn load(path: &Path) -> Result<Users, AuthError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| AuthError::Read {
            file: file.clone(),
            source,
        })?;
        Users::parse(&text, &file)
    }

    /// Parses `name = hash [admin]` lines; `#` starts a comment line.
    pub fn parse(text: &str, file: &str) -> Result<Users, AuthError> {
        let mut users = HashMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fail = |message: String| AuthError::Syntax {
                file: file.to_string(),
                line: i + 1,
                message,
            };
            let (name, rest) = line
                .split_once('=')
                .map(|(n, r)| (n.trim(), r.trim()))
                .ok_or_else(|| fail("expected `name = hash [admin]`".into()))?;
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_graphic()) {
                return Err(fail(format!("{name:?} is not a user name")));
            }
            let mut words = rest.split_whitespace();
            let hash = words.next().unwrap_or_default();
            if PasswordHash::new(hash).is_err() || !hash.starts_with("$argon2") {
                return Err(fail(format!(
                    "the password of {name} is not an argon2 hash; store hashes, made with `ledgermq dashboard --hash-password`"
                )));
            }
            let admin = match (words.next(), words.next()) {
                (None, _) => false,
                (Some("admin"), None) => true,
                (Some(other), _) => {
                    return Err(fail(format!(
                        "after the hash only `admin` may follow, not {other:?}"
                    )))
                }
            };
            if users
                .insert(
                    name.to_string(),
                    User {
                        hash: hash.to_string(),
                        admin,
                    },
                )
                .is_some()
            {
                return Err(fail(format!("user {name} is listed twice")));
            }
        }
        if users.is_empty() {
            return Err(AuthError::Empty(file.to_string()));
        }
        Ok(Users { users })
    }

    /// The user's admin flag if `password` is right, else `None`. Slow on purpose (argon2);
    /// call it off the async threads.
    fn verify(&self, name: &str, password: &str) -> Option<bool> {
        let user = self.users.get(name)?;
        let hash = PasswordHash::new(&user.hash).ok()?;
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .ok()
            .map(|_| user.admin)
    }
}

/// An argon2id PHC string for `password`, for the users file.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// Who is asking, as the pages and handlers see it.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub user: String,
    pub admin: bool,
    pub csrf: String,
    #[serde(skip)]
    last_used: Instant,
}

enum Mode {
    Open { session: Session },
    Login { users: Arc<Users> },
}

/// The dashboard's access control: the mode and the live sessions.
pub struct Auth {
    mode: Mode,
    sessions: Mutex<HashMap<String, Session>>,
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares two secrets in time independent of where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Auth {
    /// Open mode: no login, the local user is admin.
    pub fn open() -> Auth {
        Auth {
            mode: Mode::Open {
                session: Session {
                    user: "local".into(),
                    admin: true,
                    csrf: random_token(),
                    last_used: Instant::now(),
                },
            },
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// Login mode with `users`.
    pub fn login(users: Users) -> Auth {
        Auth {
            mode: Mode::Login {
                users: Arc::new(users),
            },
            sessions: Mutex::new(HashMap::new()),
        }
    }

    pub fn login_required(&self) -> bool {
        matches!(self.mode, Mode::Login { .. })
    }

    /// The session of a request, if it has one (always, in open mode).
    pub fn session(&self, headers: &HeaderMap) -> Option<Session> {
        match &self.mode {
            Mode::Open { session } => Some(session.clone()),
            Mode::Login { .. } => {
                let token = cookie(headers, SESSION_COOKIE)?;
                let mut sessions = self.sessions.lock();
                let s = sessions.get_mut(&token)?;
                if s.last_used.elapsed() > SESSION_IDLE {
                    sessions.remove(&token);
                    return None;
                }
                s.last_used = Instant::now();
                Some(s.clone())
            }
        }
    }

    /// Checks a name and password; on success returns a new session's cookie token.
    pub async fn sign_in(&self, name: &str, password: &str) -> Option<String> {
        let Mode::Login { users } = &self.mode else {
            return None;
        };
        let (users2, name2, pw) = (users.clone(), name.to_string(), password.to_string());
        let verified = tokio::task::spawn_blocking(move || users2.verify(&name2, &pw))
            .await
            .ok()
            .flatten();
        let Some(admin) = verified else {
            tokio::time::sleep(FAILED_LOGIN_DELAY).await;
            return None;
        };
        let token = random_token();
        let mut sessions = self.sessions.lock();
        sessions.retain(|_, s| s.last_used.elapsed() <= SESSION_IDLE);
        sessions.insert(
            token.clone(),
            Session {
                user: name.to_string(),
                admin,
                csrf: random_token(),
                last_used: Instant::now(),
            },
        );
        Some(token)
    }

    pub fn sign_out(&self, headers: &HeaderMap) {
        if let Some(token) = cookie(headers, SESSION_COOKIE) {
            self.sessions.lock().remove(&token);
        }
    }

    /// In open mode, a `Host` that is not loopback is refused (DNS rebinding).
    fn host_allowed(&self, headers: &HeaderMap) -> bool {
        if self.login_required() {
            return true;
        }
        let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
            return false;
        };
        is_loopback_host(host)
    }
}

/// True for `localhost`, `127.x.y.z` and `[::1]`, with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The `Set-Cookie` value of a new session.
pub fn session_cookie(token: &str) -> String {
    format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict")
}

/// The `Set-Cookie` value that ends a session in the browser.
pub fn expired_cookie() -> String {
    format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// Paths anyone may load: the login page and the static assets it needs.
fn is_public(path: &str) -> bool {
    path == "/login" || path.starts_with("/assets/")
}

/// True when an `Origin` header is present and names another host than `Host`.
fn cross_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return false;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let origin_host = origin.split_once("://").map_or(origin, |(_, h)| h);
    !origin_host.eq_ignore_ascii_case(host)
}

/// The access check in front of every route; see the module comment for the rules.
pub async fn guard(State(auth): State<Arc<Auth>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let headers = req.headers();
    let api = path.starts_with("/api/");
    let deny = |status: StatusCode, msg: &str| -> Response {
        if api {
            let e = match status {
                StatusCode::UNAUTHORIZED => ApiError::Unauthorized(msg.into()),
                _ => ApiError::Forbidden(msg.into()),
            };
            e.into_response()
        } else {
            (status, msg.to_string()).into_response()
        }
    };
    if !auth.host_allowed(headers) {
        return deny(
            StatusCode::FORBIDDEN,
            "this dashboard answers only to a loopback Host (127.0.0.1, localhost); to serve other addresses, start it with --users",
        );
    }
    let mutating = !matches!(*req.method(), Method::GET | Method::HEAD);
    if mutating && cross_origin(headers) {
        return deny(
            StatusCode::FORBIDDEN,
            "a request from another site's page was refused",
        );
    }
    if is_public(&path) {
        return next.run(req).await;
    }
    let Some(session) = auth.session(headers) else {
        if api || mutating {
            return deny(
                StatusCode::UNAUTHORIZED,
                "not logged in (or the session expired): log in again",
            );
        }
        let target = match req.uri().path_and_query() {
            Some(pq) => pq.as_str().to_string(),
            None => path.clone(),
        };
        return Redirect::to(&format!("/login?next={}", percent_encode(&target))).into_response();
    };
    if mutating {
        let token = headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !same_secret(token, &session.csrf) {
            return deny(
                StatusCode::FORBIDDEN,
                "missing or wrong CSRF token: reload the page and try again",
            );
        }
        if !session.admin {
            return deny(
                StatusCode::FORBIDDEN,
                &format!(
                    "user {} may look but not change anything (not an admin in the users file)",
                    session.user
                ),
            );
        }
    }
    next.run(req).await
}

/// Percent-encodes everything but unreserved characters and `/`.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_file_needs_hashes_and_reports_the_line() {
        let hash = hash_password("s3cret").unwrap();
        let text = format!("# comment\n\nalice = {hash} admin\nbob={hash}\n");
        let users = Users::parse(&text, "users.conf").unwrap();
        assert_eq!(users.verify("alice", "s3cret"), Some(true));
        assert_eq!(users.verify("bob", "s3cret"), Some(false));
        assert_eq!(users.verify("bob", "wrong"), None);
        assert_eq!(users.verify("carol", "s3cret"), None);

        let plain = Users::parse("alice = s3cret\n", "users.conf").unwrap_err();
        assert!(plain.to_string().starts_with("users.conf:1: "), "{plain}");
        assert!(plain.to_string().contains("not an argon2 hash"), "{plain}");
        let role = Users::parse(&format!("\nalice = {hash} root\n"), "u").unwrap_err();
        assert!(role.to_string().starts_with("u:2: "), "{role}");
        let twice = Users::parse(&format!("a = {hash}\na = {hash}\n"), "u").unwrap_err();
        assert!(twice.to_string().contains("twice"), "{twice}");
        assert!(matches!(
            Users::parse("# none\n", "u"),
            Err(AuthError::Empty(_))
        ));
    }

    #[test]
    fn loopback_hosts_and_origins() {
        for ok in [
            "127.0.0.1:8080",
            "localhost:8080",
            "[::1]:8080",
            "127.0.30.2",
            "LOCALHOST",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in ["evil.example:8080", "10.0.0.1:8080", "", "[fe80::1]:80"] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "127.0.0.1:8080".parse().unwrap());
        assert!(!cross_origin(&h));
        h.insert(header::ORIGIN, "http://127.0.0.1:8080".parse().unwrap());
        assert!(!cross_origin(&h));
        h.insert(header::ORIGIN, "http://evil.example".parse().unwrap());
        assert!(cross_origin(&h));
    }

    #[test]
    fn cookies_secrets_and_encoding() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "a=1; ledgermq_session=abc".parse().unwrap());
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "b"), None);
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abc", "abd"));
        assert!(!same_secret("abc", "ab"));
        assert_eq!(percent_encode("/topics?x=a b"), "/topics%3Fx%3Da%20b");
        assert_eq!(random_token().len(), 64);
    }

    #[tokio::test]
    async fn sessions_come_from_sign_in_only() {
        let hash = hash_password("pw").unwrap();
        let auth = Auth::login(Users::parse(&format!("v = {hash}\n"), "u").unwrap());
        assert!(auth.sign_in("v", "nope").await.is_none());
        let token = auth.sign_in("v", "pw").await.unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            format!("{SESSION_COOKIE}={token}").parse().unwrap(),
        );
        let s = auth.session(&h).unwrap();
        assert_eq!((s.user.as_str(), s.admin), ("v", false));
        auth.sign_out(&h);
        assert!(auth.session(&h).is_none());
        assert!(Auth::open().session(&HeaderMap::new()).unwrap().admin);
    }
}
