//! The browser client ("guest"): a page that joins a room with the browser's own camera,
//! microphone and WebRTC (ui/guest, ui/shared). Served at `/` and at `/r/CODE`, the share link
//! the app hands out. The files are compiled into the binary, so a deployed server needs
//! nothing beside it.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

const INDEX: &str = include_str!("../../../ui/guest/index.html");
const GUEST_JS: &str = include_str!("../../../ui/guest/guest.js");
const SECURITY_JS: &str = include_str!("../../../ui/guest/security.js");
const RENEWAL_JS: &str = include_str!("../../../ui/guest/renewal.js");
const STATS_JS: &str = include_str!("../../../ui/guest/stats.js");
const STYLE: &str = include_str!("../../../ui/guest/style.css");
const SIGNALING_JS: &str = include_str!("../../../ui/shared/signaling.js");

/// The page's own rules: scripts and styles from this server only, media and the WebSocket
/// to it; nothing else is loaded or framed.
const CSP: &str = "default-src 'self'; connect-src 'self'; media-src 'self' blob:; \
                   img-src 'self' data:; frame-ancestors 'none'";

fn file(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_SECURITY_POLICY, CSP),
        ],
        body,
    )
}

pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let index = || async { file("text/html; charset=utf-8", INDEX) };
    Router::new()
        .route("/", get(index))
        .route("/r/{code}", get(index))
        .route(
            "/guest/guest.js",
            get(|| async { file("text/javascript; charset=utf-8", GUEST_JS) }),
        )
        .route(
            "/guest/security.js",
            get(|| async { file("text/javascript; charset=utf-8", SECURITY_JS) }),
        )
        .route(
            "/guest/renewal.js",
            get(|| async { file("text/javascript; charset=utf-8", RENEWAL_JS) }),
        )
        .route(
            "/guest/stats.js",
            get(|| async { file("text/javascript; charset=utf-8", STATS_JS) }),
        )
        .route(
            "/guest/style.css",
            get(|| async { file("text/css; charset=utf-8", STYLE) }),
        )
        .route(
            "/shared/signaling.js",
            get(|| async { file("text/javascript; charset=utf-8", SIGNALING_JS) }),
        )
}
