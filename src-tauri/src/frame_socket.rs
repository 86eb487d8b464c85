//! Pictures to the page over a WebSocket on 127.0.0.1, the other frame path next to Tauri's
//! channels (BENCHMARKS.md, "Desktop app", compares them).
//!
//! The page opens `ws://127.0.0.1:PORT/tile/ID?token=T&w=W&h=H` per tile; the app sends
//! each picture as one binary message (the wire format of [`crate::tiles`]) and the page
//! answers each drawn picture with an empty text message. Sizes changed later still go by
//! the `resize_tile` command.
//!
//! Anything on this computer can connect to a localhost port, and a tile is somebody's
//! face: a connection must carry the token, 128 random bits the page gets by a command.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_tungstenite::tungstenite::Message;

use crate::tiles::{Sink, Tiles};

/// Where the page finds the socket.
#[derive(Debug, Clone, Serialize)]
pub struct FrameSocket {
    pub port: u16,
    pub token: String,
}

impl FrameSocket {
    /// Listens on a free port of 127.0.0.1 and serves tiles from `tiles` until the app ends.
    pub async fn start(tiles: Arc<Tiles>) -> std::io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let port = listener.local_addr()?.port();
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(std::io::Error::other)?;
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let socket = Self { port, token };
        let expected = socket.token.clone();
        tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, peer)) => {
                        tokio::spawn(serve(stream, peer, expected.clone(), tiles.clone()));
                    }
                    // Out of file descriptors and the like: wait rather than spin.
                    Err(e) => {
                        tracing::warn!("frame socket: accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                }
            }
        });
        Ok(socket)
    }
}

/// What a connection asked for.
#[derive(Debug, PartialEq, Eq)]
struct TileRequest {
    tile: String,
    width: u32,
    height: u32,
}

async fn serve(stream: TcpStream, peer: SocketAddr, token: String, tiles: Arc<Tiles>) {
    let _ = stream.set_nodelay(true);
    let mut asked = None;
    // The callback's error type is tungstenite's, large or not.
    #[allow(clippy::result_large_err)]
    let accepted =
        tokio_tungstenite::accept_hdr_async(stream, |request: &Request, response: Response| {
            match parse(request, &token) {
                Ok(r) => {
                    asked = Some(r);
                    Ok(response)
                }
                Err(why) => {
                    let mut refusal = ErrorResponse::new(Some(why.to_owned()));
                    *refusal.status_mut() = StatusCode::FORBIDDEN;
                    Err(refusal)
                }
            }
        })
        .await;
    let (ws, Some(asked)) = (
        match accepted {
            Ok(ws) => ws,
            Err(e) => {
                tracing::warn!("frame socket: refused {peer}: {e}");
                return;
            }
        },
        asked,
    ) else {
        return;
    };
    let (mut to_page, mut from_page) = ws.split();
    let (tx, mut pictures) = mpsc::unbounded_channel::<Vec<u8>>();
    tiles.watch(&asked.tile, Sink::Socket(tx), asked.width, asked.height);
    loop {
        tokio::select! {
            picture = pictures.recv() => {
                // None: the tile was watched again on another connection.
                let Some(picture) = picture else { break };
                if to_page.send(Message::Binary(picture.into())).await.is_err() {
                    break;
                }
            }
            message = from_page.next() => match message {
                Some(Ok(Message::Text(_))) => tiles.shown(&asked.tile),
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// `/tile/ID?token=T&w=W&h=H` from the app's page, or why not. (A request without `Origin`
/// is no browser's; it still needs the token.)
fn parse(request: &Request, token: &str) -> Result<TileRequest, &'static str> {
    if let Some(origin) = request.headers().get("origin") {
        let origin = origin.to_str().unwrap_or_default().to_ascii_lowercase();
        if !tincan_protocol::APP_ORIGINS.contains(&origin.trim_end_matches('/')) {
            return Err("only the app's page may watch tiles");
        }
    }
    let uri = request.uri();
    let tile = uri
        .path()
        .strip_prefix("/tile/")
        .filter(|t| !t.is_empty() && t.len() <= 128)
        .ok_or("expected /tile/ID")?;
    // The page encodes the id (peer ids are the server's to choose).
    let tile = percent_encoding::percent_decode_str(tile)
        .decode_utf8()
        .map_err(|_| "the tile id is not UTF-8")?;
    let mut given = None;
    let (mut width, mut height) = (1, 1);
    for pair in uri.query().unwrap_or("").split('&') {
        match pair.split_once('=') {
            Some(("token", v)) => given = Some(v),
            Some(("w", v)) => width = v.parse().map_err(|_| "w is not a number")?,
            Some(("h", v)) => height = v.parse().map_err(|_| "h is not a number")?,
            _ => {}
        }
    }
    if !given.is_some_and(|g| same(g.as_bytes(), token.as_bytes())) {
        return Err("wrong or missing token");
    }
    Ok(TileRequest {
        tile: tile.into_owned(),
        width,
        height,
    })
}

/// Compares in time that does not depend on where the first difference is, so the token
/// cannot be guessed a character at a time by timing refusals.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tiles::IN_FLIGHT;
    use tincan_media::VideoFrame;
    use tokio_tungstenite::connect_async;
    use tokio_tungstenite::tungstenite::Error as WsError;

    fn request(uri: &str) -> Request {
        Request::builder().uri(uri).body(()).unwrap()
    }

    #[test]
    fn a_tile_request_needs_the_path_and_the_token() {
        assert_eq!(
            parse(&request("/tile/self?token=abc&w=640&h=360"), "abc"),
            Ok(TileRequest {
                tile: "self".into(),
                width: 640,
                height: 360
            })
        );
        assert!(parse(&request("/tile/self?token=abd&w=640&h=360"), "abc").is_err());
        assert!(parse(&request("/tile/self?token=ab"), "abc").is_err());
        assert!(parse(&request("/tile/self"), "abc").is_err());
        assert!(parse(&request("/tile/?token=abc"), "abc").is_err());
        assert!(parse(&request("/other/self?token=abc"), "abc").is_err());
        assert!(parse(&request("/tile/self?token=abc&w=big"), "abc").is_err());
        assert_eq!(
            parse(&request("/tile/a%20b%2Fc?token=abc"), "abc").map(|r| r.tile),
            Ok("a b/c".to_owned())
        );
        let from = |origin: &str| {
            Request::builder()
                .uri("/tile/self?token=abc")
                .header("Origin", origin)
                .body(())
                .unwrap()
        };
        assert!(parse(&from("tauri://localhost"), "abc").is_ok());
        assert!(parse(&from("http://tauri.localhost"), "abc").is_ok());
        assert_eq!(
            parse(&from("https://evil.example"), "abc").map(|r| r.tile),
            Err("only the app's page may watch tiles")
        );
    }

    #[tokio::test]
    async fn pictures_go_to_a_page_with_the_token_and_wait_for_its_acks() {
        let tiles = Arc::new(Tiles::default());
        let socket = FrameSocket::start(tiles.clone()).await.unwrap();
        let base = format!("ws://127.0.0.1:{}/tile/self", socket.port);

        let refused = connect_async(format!("{base}?token=0123&w=64&h=32")).await;
        match refused {
            Err(WsError::Http(response)) => assert_eq!(response.status(), StatusCode::FORBIDDEN),
            other => panic!("a wrong token must be refused: {other:?}"),
        }

        let url = format!("{base}?token={}&w=32&h=16", socket.token);
        let (mut page, _) = connect_async(url).await.unwrap();
        // The connection registers the tile once its handshake is done.
        let frame = VideoFrame::black(64, 32).unwrap();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        while !tiles.counts().contains_key("self") {
            assert!(tokio::time::Instant::now() < deadline, "tile never watched");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        // More pictures than may be in flight: the rest wait for the page's acks.
        for _ in 0..IN_FLIGHT + 2 {
            tiles.offer("self", frame.clone());
        }
        let mut received = 0;
        while received < IN_FLIGHT {
            match page.next().await {
                Some(Ok(Message::Binary(b))) => {
                    // Scaled to fit the 32x16 tile.
                    assert_eq!(b.len(), 8 + VideoFrame::i420_len(32, 16));
                    received += 1;
                }
                other => panic!("expected a picture, got {other:?}"),
            }
        }
        let counts = tiles.counts()["self"];
        let in_flight = u64::from(IN_FLIGHT);
        assert_eq!(
            (counts.sent, counts.skipped),
            (in_flight, 1),
            "two waited; the older was replaced"
        );
        page.send(Message::Text("".into())).await.unwrap();
        match page.next().await {
            Some(Ok(Message::Binary(_))) => {}
            other => panic!("the ack lets the waiting picture go: {other:?}"),
        }
        assert_eq!(tiles.counts()["self"].sent, in_flight + 1);
    }
}
