//! HTTP routes: the WebSocket endpoint, health, the LAN lookup and the browser client; the
//! metrics on an address of their own.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use tincan_protocol::lan;

use crate::hub::Hub;

/// Per-connection buffers: signaling messages are small, and 10,000 idle clients must fit in
/// little memory (tungstenite's defaults are 128 KiB each way).
const READ_BUFFER: usize = 4 * 1024;
const WRITE_BUFFER: usize = 4 * 1024;

pub fn router(hub: Arc<Hub>) -> Router {
    Router::new()
        .route("/ws", get(websocket))
        .route("/healthz", get(health))
        .route(lan::LOOKUP_PATH, get(lan_lookup))
        .merge(crate::web::routes())
        .with_state(hub)
}

/// `GET /healthz`: 200 "ok" while the server can take joins; 503 with the reason while it
/// cannot (its room store, Redis, does not answer), so a load balancer sends newcomers to
/// another server meanwhile.
async fn health(State(hub): State<Arc<Hub>>) -> axum::response::Response {
    match hub.unhealthy() {
        None => "ok\n".into_response(),
        Some(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")).into_response(),
    }
}

/// A browser page's request from an origin this server does not serve: refused before
/// anything else, so a web page that finds the server cannot spend its limits.
fn foreign_origin(hub: &Hub, headers: &HeaderMap) -> Option<axum::response::Response> {
    let origin = headers.get(header::ORIGIN)?;
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let allowed = origin
        .to_str()
        .is_ok_and(|origin| hub.origin_allowed(origin, host));
    if allowed {
        return None;
    }
    tracing::debug!(origin = ?origin, "refused a foreign origin");
    Some(
        (
            StatusCode::FORBIDDEN,
            "pages from this origin may not use this server; its operator can allow it with \
             --allow-origin\n",
        )
            .into_response(),
    )
}

async fn websocket(
    State(hub): State<Arc<Hub>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> axum::response::Response {
    if let Some(refused) = foreign_origin(&hub, &headers) {
        return refused;
    }
    // The name the client dialled, which a registration's proof must be signed for.
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned);
    // Frames up to four times the message limit are read and refused with `too_large`, so the
    // connection survives; larger ones end it (close code 1009) before they fill memory.
    let hard_cap = hub.limits.max_message_bytes.saturating_mul(4);
    upgrade
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_message_size(hard_cap)
        .max_frame_size(hard_cap)
        .on_upgrade(move |socket| crate::connection::serve(hub, socket, peer.ip(), host))
        .into_response()
}

/// `GET /metrics` alone, for the separate metrics address: the public one does not say how
/// busy the server is to anyone who asks.
pub fn metrics_router(hub: Arc<Hub>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(hub)
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

#[derive(serde::Deserialize)]
struct LookupQuery {
    tag: String,
    nonce: String,
}

/// `GET /lan/lookup?tag=&nonce=`: 200 with the proof when a room here has that tag, 404 when
/// none does (or lookups are off), 400 for a malformed query, 429 over the join budget.
async fn lan_lookup(
    State(hub): State<Arc<Hub>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    query: Result<Query<LookupQuery>, axum::extract::rejection::QueryRejection>,
) -> axum::response::Response {
    if let Some(refused) = foreign_origin(&hub, &headers) {
        return refused;
    }
    let Some(Query(q)) = query.ok().filter(|Query(q)| {
        lan::is_hex(&q.tag, lan::TAG_HEX_LEN) && lan::is_hex(&q.nonce, lan::NONCE_HEX_LEN)
    }) else {
        return (
            StatusCode::BAD_REQUEST,
            "tag and nonce must be lowercase hex\n",
        )
            .into_response();
    };
    match hub.lookup(peer.ip(), &q.tag, &q.nonce) {
        Ok(Some(proof)) => (
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::to_string(&lan::LookupReply { proof }).unwrap_or_default(),
        )
            .into_response(),
        Ok(None) => (StatusCode::NOT_FOUND, "no such room here\n").into_response(),
        Err(refusal) => (StatusCode::TOO_MANY_REQUESTS, refusal.message).into_response(),
    }
}
