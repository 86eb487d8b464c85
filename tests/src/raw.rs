//! A WebSocket client that sends whatever text it is given, for testing what the server does
//! with good and bad input.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tincan_protocol::{decode_server, ErrorCode, ServerMessage};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub struct RawClient {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

const WAIT: Duration = Duration::from_secs(5);

impl RawClient {
    pub async fn connect(url: &str) -> Self {
        let (socket, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
            .await
            .expect("websocket connects");
        Self { socket }
    }

    /// Connects from `local` (every 127.x address is this machine's, so a test can be many
    /// clients), with the socket's receive buffer at `recv_buffer` bytes when given (a client
    /// that stops reading then fills it at once).
    pub async fn connect_from(url: &str, local: IpAddr, recv_buffer: Option<u32>) -> Self {
        let server: SocketAddr = url
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .and_then(|a| a.parse().ok())
            .expect("a ws://IP:PORT/… URL");
        let socket = TcpSocket::new_v4().expect("socket");
        if let Some(bytes) = recv_buffer {
            socket.set_recv_buffer_size(bytes).expect("SO_RCVBUF");
        }
        socket.bind(SocketAddr::new(local, 0)).expect("bind");
        let stream = socket.connect(server).await.expect("connect");
        // As the real client: Nagle off, so a signal right after another goes at once.
        stream.set_nodelay(true).expect("TCP_NODELAY");
        let (socket, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(stream))
            .await
            .expect("websocket connects");
        Self { socket }
    }

    /// Completes hello/welcome on a connected client.
    pub async fn greet(self) -> Self {
        self.greet_for_nonce().await.0
    }

    /// Completes hello/welcome, and returns the welcome's nonce (what `register` signs).
    pub async fn greet_for_nonce(mut self) -> (Self, String) {
        self.send(r#"{"type":"hello","version":1,"client":"test"}"#)
            .await;
        match self.recv().await {
            ServerMessage::Welcome { nonce, .. } => (self, nonce.unwrap_or_default()),
            other => panic!("expected welcome, got {other:?}"),
        }
    }

    /// Connects and completes hello/welcome.
    pub async fn greeted(url: &str) -> Self {
        Self::connect(url).await.greet().await
    }

    pub async fn send(&mut self, text: &str) {
        self.socket
            .send(Message::Text(text.to_owned().into()))
            .await
            .expect("send");
    }

    pub async fn send_json(&mut self, value: serde_json::Value) {
        self.send(&value.to_string()).await;
    }

    /// The next protocol message (control frames skipped), within 5 s.
    pub async fn recv(&mut self) -> ServerMessage {
        self.try_recv(WAIT)
            .await
            .expect("a message within 5 s, before the connection closed")
    }

    /// The next protocol message, or None if the connection closed or nothing came in time.
    pub async fn try_recv(&mut self, wait: Duration) -> Option<ServerMessage> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .ok()??;
            match frame {
                Ok(Message::Text(text)) => {
                    return Some(decode_server(text.as_str()).expect("server speaks protocol v1"))
                }
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => continue,
            }
        }
    }

    /// True if the server closes the connection within `wait` (messages before it are
    /// skipped); false if it is still open when the time is up.
    pub async fn closed_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.socket.next()).await {
                Err(_) => return false,
                Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return true,
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// The next message must be an error with `code`; returns its human message.
    pub async fn expect_error(&mut self, code: ErrorCode) -> String {
        match self.recv().await {
            ServerMessage::Error {
                code: got, message, ..
            } if got == code => message,
            other => panic!("expected error {code}, got {other:?}"),
        }
    }

    /// Creates a room and returns its code in canonical form.
    pub async fn create_room(&mut self) -> String {
        self.send(r#"{"type":"create_room"}"#).await;
        match self.recv().await {
            ServerMessage::RoomCreated { room } => room.to_string(),
            other => panic!("expected room_created, got {other:?}"),
        }
    }

    /// Joins and returns the `joined` reply.
    pub async fn join(&mut self, room: &str, name: &str) -> ServerMessage {
        self.send_json(serde_json::json!({"type": "join", "room": room, "name": name}))
            .await;
        self.recv().await
    }

    /// Closes the TCP connection without a WebSocket close or a leave.
    pub fn drop_connection(self) {
        drop(self.socket);
    }
}
