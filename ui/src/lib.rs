//! The web UI: for now a landing page that says what this server is and where its APIs are;
//! the real UI (built assets embedded here) follows.

use axum::response::Html;
use axum::routing::get;
use axum::Router;

pub fn router() -> Router {
    Router::new().route("/", get(index))
}

async fn index() -> Html<&'static str> {
    Html(concat!(
        "<!doctype html><title>Lookout</title><h1>Lookout</h1>",
        "<p>Prometheus-compatible APIs under <code>/api/v1</code>; remote_write at <code>/api/v1/write</code>.</p>"
    ))
}
