//! The HTML pages and their assets, all embedded in the binary at compile time: no build step,
//! nothing fetched from the internet at run time. Each page is the same small shell (top menu,
//! error banner, an empty `<main>`) plus its script, which draws the page from the JSON API;
//! a page's state lives in its URL's query string, so every view can be bookmarked.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::auth::{expired_cookie, session_cookie};
use super::App;

/// The pages of the top menu: (path, title).
pub const PAGES: &[(&str, &str)] = &[
    ("cockpit", "Cockpit"),
    ("cluster", "Cluster"),
    ("raft", "Raft"),
    ("topics", "Topics"),
    ("consumers", "Consumers"),
    ("messages", "Messages"),
];

/// Embedded files: (path under /assets/, content type, bytes).
const ASSETS: &[(&str, &str, &[u8])] = &[
    ("app.js", JS, include_bytes!("assets/app.js")),
    ("style.css", CSS, include_bytes!("assets/style.css")),
    (
        "pages/cockpit.js",
        JS,
        include_bytes!("assets/pages/cockpit.js"),
    ),
    (
        "pages/cluster.js",
        JS,
        include_bytes!("assets/pages/cluster.js"),
    ),
    ("pages/raft.js", JS, include_bytes!("assets/pages/raft.js")),
    (
        "pages/topics.js",
        JS,
        include_bytes!("assets/pages/topics.js"),
    ),
    (
        "pages/consumers.js",
        JS,
        include_bytes!("assets/pages/consumers.js"),
    ),
    (
        "pages/messages.js",
        JS,
        include_bytes!("assets/pages/messages.js"),
    ),
    (
        "vendor/uplot/uPlot.iife.min.js",
        JS,
        include_bytes!("assets/vendor/uplot/uPlot.iife.min.js"),
    ),
    (
        "vendor/uplot/uPlot.min.css",
        CSS,
        include_bytes!("assets/vendor/uplot/uPlot.min.css"),
    ),
    (
        "vendor/uplot/LICENSE",
        "text/plain; charset=utf-8",
        include_bytes!("assets/vendor/uplot/LICENSE"),
    ),
];
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Scripts only from this origin, no framing, no inline script; styles may be set inline
/// because the chart library positions its elements that way.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

pub fn routes() -> Router<Arc<App>> {
    let mut r = Router::new()
        .route("/", get(|| async { Redirect::to("/cockpit") }))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/assets/{*path}", get(asset));
    for (path, _) in PAGES {
        r = r.route(&format!("/{path}"), get(move || page(path)));
    }
    r
}

fn secure_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

async fn page(name: &'static str) -> Response {
    secure_headers(Html(shell(name)).into_response())
}

/// The page shell; `name` is one of [`PAGES`] (never user input).
fn shell(name: &str) -> String {
    let title = PAGES
        .iter()
        .find(|(p, _)| *p == name)
        .map_or(name, |(_, t)| *t);
    let menu: String = PAGES
        .iter()
        .map(|(p, t)| {
            let active = if *p == name {
                " class=\"active\" aria-current=\"page\""
            } else {
                ""
            };
            format!("<a href=\"/{p}\"{active}>{t}</a>")
        })
        .collect();
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · LedgerMQ</title>
<link rel="stylesheet" href="/assets/vendor/uplot/uPlot.min.css">
<link rel="stylesheet" href="/assets/style.css">
</head>
<body data-page="{name}">
<header class="top">
<a class="brand" href="/cockpit">LedgerMQ</a>
<nav>{menu}</nav>
<span id="who"></span>
</header>
<div id="banner" role="alert" hidden></div>
<main id="main"><noscript>This dashboard draws its pages with JavaScript; please enable it.</noscript></main>
<footer>LedgerMQ dashboard · charts by <a href="/assets/vendor/uplot/LICENSE">uPlot</a> (MIT)</footer>
<script src="/assets/vendor/uplot/uPlot.iife.min.js"></script>
<script src="/assets/app.js"></script>
<script src="/assets/pages/{name}.js"></script>
</body>
</html>
"#
    )
}

async fn asset(Path(path): Path<String>) -> Response {
    match ASSETS.iter().find(|(p, _, _)| *p == path) {
        Some((_, ctype, bytes)) => secure_headers(
            (
                [(header::CONTENT_TYPE, HeaderValue::from_static(ctype))],
                *bytes,
            )
                .into_response(),
        ),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// Only a local path may follow a login (no open redirect to another site).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/cockpit".to_string(),
    }
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn login_form(next: &str, error: Option<&str>) -> String {
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape_html(e)))
        .unwrap_or_default();
    format!(
        r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Log in · LedgerMQ</title>
<link rel="stylesheet" href="/assets/style.css"></head>
<body class="login">
<form method="post" action="/login" class="card login-card">
<h1>LedgerMQ</h1>
{error}
<label>User <input name="user" autocomplete="username" required autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<input type="hidden" name="next" value="{next}">
<button type="submit">Log in</button>
</form>
</body></html>
"#,
        next = escape_html(next)
    )
}

async fn login_page(State(app): State<Arc<App>>, Query(q): Query<LoginQuery>) -> Response {
    let next = safe_next(q.next.as_deref());
    if !app.auth.login_required() {
        return Redirect::to(&next).into_response();
    }
    secure_headers(Html(login_form(&next, None)).into_response())
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    user: String,
    password: String,
    next: Option<String>,
}

async fn login(State(app): State<Arc<App>>, Form(f): Form<LoginForm>) -> Response {
    let next = safe_next(f.next.as_deref());
    match app.auth.sign_in(f.user.trim(), &f.password).await {
        Some(token) => {
            let mut resp = Redirect::to(&next).into_response();
            if let Ok(v) = HeaderValue::from_str(&session_cookie(&token)) {
                resp.headers_mut().insert(header::SET_COOKIE, v);
            }
            resp
        }
        None => secure_headers(
            (
                StatusCode::UNAUTHORIZED,
                Html(login_form(&next, Some("Wrong user or password."))),
            )
                .into_response(),
        ),
    }
}

async fn logout(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    app.auth.sign_out(&headers);
    let mut resp = axum::Json(serde_json::json!({"ok": true})).into_response();
    if let Ok(v) = HeaderValue::from_str(&expired_cookie()) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_has_its_script_and_a_menu_entry() {
        for (name, _) in PAGES {
            let html = shell(name);
            let script = format!("pages/{name}.js");
            assert!(html.contains(&format!("/assets/{script}")));
            assert!(ASSETS.iter().any(|(p, _, _)| *p == script), "{script}");
            // The menu and the chart licence in the footer.
            assert_eq!(html.matches("<a href=\"/").count(), PAGES.len() + 1);
        }
    }

    #[test]
    fn logins_only_return_to_local_paths() {
        assert_eq!(safe_next(Some("/raft?x=1")), "/raft?x=1");
        for bad in [
            None,
            Some("//evil.example"),
            Some("https://evil.example"),
            Some("/\\evil"),
        ] {
            assert_eq!(safe_next(bad), "/cockpit");
        }
        assert_eq!(
            escape_html("<a href=\"x\">"),
            "&lt;a href=&quot;x&quot;&gt;"
        );
    }
}
