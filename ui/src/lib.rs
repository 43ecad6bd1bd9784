//! The web UI: serves the single-page app built from `ui/web` (committed in `ui/dist`,
//! embedded at compile time) at `/`. Hashed assets are served with their content type and
//! cached for good; any other path that is not an API route gets `index.html`, so deep links
//! such as `/graph?expr=up` or `/traces/<id>` load the app. Unknown paths under API prefixes
//! answer a JSON 404 instead, so the UI never shadows an API.

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use include_dir::{include_dir, Dir};

static DIST: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/dist");

/// Path prefixes owned by the HTTP APIs: never answered with the app.
const API_PREFIXES: &[&str] = &["/api/", "/loki/", "/otlp/", "/v1/", "/-/", "/debug/"];
/// Exact API paths (and their sub-paths) outside the prefixes above.
const API_PATHS: &[&str] = &["/metrics", "/federate", "/ready", "/api", "/loki", "/otlp"];

/// The UI routes; merge into the server's router (it adds the fallback, so no other
/// merged router may set one).
pub fn router() -> Router {
    Router::new().route("/", get(index)).fallback(fallback)
}

/// True for paths that belong to an API, where the UI must not answer with HTML.
pub fn is_api_path(path: &str) -> bool {
    API_PREFIXES.iter().any(|p| path.starts_with(p))
        || API_PATHS
            .iter()
            .any(|p| path == *p || path.strip_prefix(p).is_some_and(|r| r.starts_with('/')))
}

async fn index() -> Response {
    index_html()
}

fn index_html() -> Response {
    match DIST.get_file("index.html") {
        Some(f) => file_response(f.contents(), "index.html", false),
        None => (
            StatusCode::NOT_FOUND,
            "the UI bundle is missing: run `npm ci && npm run build` in ui/ and rebuild\n",
        )
            .into_response(),
    }
}

async fn fallback(method: Method, uri: Uri) -> Response {
    let path = uri.path();
    if is_api_path(path) {
        return api_not_found(path);
    }
    if method != Method::GET && method != Method::HEAD {
        return (StatusCode::METHOD_NOT_ALLOWED, "the UI only answers GET\n").into_response();
    }
    let rel = path.trim_start_matches('/');
    if let Some(f) = DIST.get_file(rel) {
        return file_response(f.contents(), rel, rel.starts_with("assets/"));
    }
    // A missing file (an old hashed asset, a typo) is a 404, not the app.
    let last = rel.rsplit('/').next().unwrap_or("");
    if rel.starts_with("assets/") || last.contains('.') {
        return (StatusCode::NOT_FOUND, format!("no UI file at {path}\n")).into_response();
    }
    index_html()
}

fn api_not_found(path: &str) -> Response {
    let body = format!(
        "{{\"status\":\"error\",\"errorType\":\"not_found\",\"error\":\"no API endpoint at {}\"}}",
        path.replace(['"', '\\'], "")
    );
    (
        StatusCode::NOT_FOUND,
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response()
}

fn file_response(bytes: &'static [u8], name: &str, immutable: bool) -> Response {
    let cache = if immutable {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    (
        [
            (CONTENT_TYPE, HeaderValue::from_static(content_type(name))),
            (CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
        bytes,
    )
        .into_response()
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths_are_recognised() {
        for p in [
            "/api/v1/xyz",
            "/loki/api/v1/nope",
            "/metrics",
            "/metrics/x",
            "/v1/traces",
            "/-/healthy",
            "/federate",
        ] {
            assert!(is_api_path(p), "{p}");
        }
        for p in [
            "/",
            "/graph",
            "/logs",
            "/traces/abc",
            "/metricsx",
            "/assets/a.js",
        ] {
            assert!(!is_api_path(p), "{p}");
        }
    }

    #[test]
    fn the_bundle_is_embedded() {
        let html = std::str::from_utf8(DIST.get_file("index.html").unwrap().contents()).unwrap();
        assert!(html.contains("/assets/index-"), "{html}");
    }
}
