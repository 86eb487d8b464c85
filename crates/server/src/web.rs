//! The browser client ("guest"): a page that joins a room with the browser's own camera,
//! microphone and WebRTC (ui/guest, ui/shared). Served at `/` and at `/r/CODE`, the share link
//! the app hands out. The files are compiled into the binary, so a deployed server needs
//! nothing beside it.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

const INDEX: &str = include_str!("../../../ui/guest/index.html");

const JS: &str = "text/javascript; charset=utf-8";

/// Every file the page loads: its path, type and contents.
const FILES: [(&str, &str, &str); 10] = [
    (
        "/guest/guest.js",
        JS,
        include_str!("../../../ui/guest/guest.js"),
    ),
    (
        "/guest/security.js",
        JS,
        include_str!("../../../ui/guest/security.js"),
    ),
    (
        "/guest/renewal.js",
        JS,
        include_str!("../../../ui/guest/renewal.js"),
    ),
    (
        "/guest/stats.js",
        JS,
        include_str!("../../../ui/guest/stats.js"),
    ),
    (
        "/guest/meter.js",
        JS,
        include_str!("../../../ui/guest/meter.js"),
    ),
    (
        "/guest/files.js",
        JS,
        include_str!("../../../ui/guest/files.js"),
    ),
    (
        "/guest/share.js",
        JS,
        include_str!("../../../ui/guest/share.js"),
    ),
    (
        "/guest/style.css",
        "text/css; charset=utf-8",
        include_str!("../../../ui/guest/style.css"),
    ),
    (
        "/shared/signaling.js",
        JS,
        include_str!("../../../ui/shared/signaling.js"),
    ),
    (
        "/shared/sha256.js",
        JS,
        include_str!("../../../ui/shared/sha256.js"),
    ),
];

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
    FILES.iter().fold(
        Router::new()
            .route("/", get(index))
            .route("/r/{code}", get(index)),
        |router, &(path, content_type, body)| {
            router.route(path, get(move || async move { file(content_type, body) }))
        },
    )
}
