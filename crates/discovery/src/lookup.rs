//! Asking one found server whether it hosts a room: `GET /lan/lookup` over plain HTTP/1.1
//! (hyper), with the answer's size and time bounded.

use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use tincan_protocol::lan::{self, LookupReply};
use tincan_protocol::RoomCode;

use crate::DiscoveryError;

/// Longest wait for one server's answer.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(1);
/// Largest answer read.
const MAX_ANSWER: usize = 1024;

/// True when the server at `addr` proves it hosts `code`; false when it says it does not.
pub async fn ask(addr: SocketAddr, code: &RoomCode) -> Result<bool, DiscoveryError> {
    match tokio::time::timeout(LOOKUP_TIMEOUT, ask_now(addr, code)).await {
        Ok(result) => result,
        Err(_) => Err(bad(addr, "no answer within 1 s")),
    }
}

fn bad(addr: SocketAddr, reason: impl Into<String>) -> DiscoveryError {
    DiscoveryError::BadAnswer {
        addr,
        reason: reason.into(),
    }
}

async fn ask_now(addr: SocketAddr, code: &RoomCode) -> Result<bool, DiscoveryError> {
    let nonce = lan::new_nonce().map_err(|e| DiscoveryError::Random(e.to_string()))?;
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| bad(addr, e.to_string()))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| bad(addr, e.to_string()))?;
    let driver = tokio::spawn(connection);
    let uri = format!(
        "{}?tag={}&nonce={nonce}",
        lan::LOOKUP_PATH,
        lan::room_tag(code)
    );
    let request = hyper::Request::get(uri)
        .header(hyper::header::HOST, addr.to_string())
        .body(Empty::<Bytes>::new())
        .map_err(|e| bad(addr, e.to_string()))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| bad(addr, e.to_string()));
    let answer = match response {
        Ok(response) => {
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_ANSWER)
                .collect()
                .await
                .map(|b| b.to_bytes())
                .map_err(|e| bad(addr, e.to_string()));
            match (status.as_u16(), body) {
                (404, _) => Ok(false),
                (200, Ok(body)) => match serde_json::from_slice::<LookupReply>(&body) {
                    Ok(reply) if lan::proof_matches(code, &nonce, &reply.proof) => Ok(true),
                    Ok(_) => Err(bad(addr, "its proof does not match the code")),
                    Err(e) => Err(bad(addr, e.to_string())),
                },
                (_, Err(e)) => Err(e),
                (other, Ok(body)) => Err(bad(
                    addr,
                    format!("HTTP {other}: {}", String::from_utf8_lossy(&body).trim()),
                )),
            }
        }
        Err(e) => Err(e),
    };
    driver.abort();
    answer
}
