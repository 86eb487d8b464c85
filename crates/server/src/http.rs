//! HTTP routes: the WebSocket endpoint, health and metrics, and the browser client.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::hub::Hub;

/// Per-connection buffers: signaling messages are small, and 10,000 idle clients must fit in
/// little memory (tungstenite's defaults are 128 KiB each way).
const READ_BUFFER: usize = 4 * 1024;
const WRITE_BUFFER: usize = 4 * 1024;

pub fn router(hub: Arc<Hub>) -> Router {
    Router::new()
        .route("/ws", get(websocket))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .merge(crate::web::routes())
        .with_state(hub)
}

async fn websocket(
    State(hub): State<Arc<Hub>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    upgrade: WebSocketUpgrade,
) -> impl IntoResponse {
    // Frames up to four times the message limit are read and refused with `too_large`, so the
    // connection survives; larger ones end it (close code 1009) before they fill memory.
    let hard_cap = hub.limits.max_message_bytes.saturating_mul(4);
    upgrade
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_message_size(hard_cap)
        .max_frame_size(hard_cap)
        .on_upgrade(move |socket| crate::connection::serve(hub, socket, peer.ip()))
}

async fn metrics(State(hub): State<Arc<Hub>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        hub.metrics.render(),
    )
}
