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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server on loopback that answers every request with `status` and `body`.
    async fn answering(status: &'static str, body: String) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut request = [0u8; 2048];
                let _ = socket.read(&mut request).await;
                let reply = format!(
                    "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(reply.as_bytes()).await;
            }
        });
        addr
    }

    #[tokio::test]
    async fn a_server_that_claims_every_room_without_the_code_is_not_believed() {
        let code = RoomCode::parse("k7wq-2m9x-d4tp").unwrap();
        let liar = answering("200 OK", format!(r#"{{"proof":"{}"}}"#, "ab".repeat(32))).await;
        assert!(matches!(
            ask(liar, &code).await,
            Err(DiscoveryError::BadAnswer { .. })
        ));
        let absent = answering("404 Not Found", "no such room here\n".into()).await;
        assert!(!ask(absent, &code).await.unwrap());
        let huge = answering("200 OK", "x".repeat(MAX_ANSWER * 4)).await;
        assert!(ask(huge, &code).await.is_err());
    }

    #[tokio::test]
    async fn a_server_that_never_answers_is_given_up_on_within_the_timeout() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                open.push(socket);
            }
        });
        let code = RoomCode::parse("k7wq-2m9x-d4tp").unwrap();
        let started = std::time::Instant::now();
        assert!(ask(addr, &code).await.is_err());
        assert!(started.elapsed() < LOOKUP_TIMEOUT + Duration::from_millis(500));
    }
}
