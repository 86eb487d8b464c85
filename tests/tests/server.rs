//! tincan-server as a real process, driven by real WebSocket clients over loopback.

use std::time::Duration;

#[path = "server/admission.rs"]
mod admission;
#[path = "server/fuzz_corpus.rs"]
mod fuzz_corpus;
#[path = "server/ringing.rs"]
mod ringing;
#[path = "server/shared.rs"]
mod shared;

use serde_json::json;
use tincan_e2e::{RawClient, ServerProcess};
use tincan_protocol::{ErrorCode, LeaveReason, PeerId, ServerMessage, Signal};

fn peer_id(joined: &ServerMessage) -> PeerId {
    match joined {
        ServerMessage::Joined { peer_id, .. } => peer_id.clone(),
        other => panic!("expected joined, got {other:?}"),
    }
}

/// Two greeted clients in one fresh room: (creator, joiner, code, creator id, joiner id).
async fn pair(server: &ServerProcess) -> (RawClient, RawClient, String, PeerId, PeerId) {
    let mut a = RawClient::greeted(&server.ws_url()).await;
    let code = a.create_room().await;
    let a_id = peer_id(&a.join(&code, "Ada").await);
    let mut b = RawClient::greeted(&server.ws_url()).await;
    let b_joined = b.join(&code, "Bo").await;
    let b_id = peer_id(&b_joined);
    match b_joined {
        ServerMessage::Joined { peers, .. } => {
            assert_eq!(peers.len(), 1);
            assert_eq!(peers[0].id, a_id);
            assert_eq!(peers[0].name, "Ada");
        }
        _ => unreachable!(),
    }
    match a.recv().await {
        ServerMessage::PeerJoined { peer } => assert_eq!(peer.id, b_id),
        other => panic!("expected peer_joined, got {other:?}"),
    }
    (a, b, code, a_id, b_id)
}

async fn expect_signal(client: &mut RawClient, from: &PeerId) -> Signal {
    match client.recv().await {
        ServerMessage::Signal { from: got, signal } => {
            assert_eq!(&got, from);
            signal
        }
        other => panic!("expected a signal, got {other:?}"),
    }
}

#[tokio::test]
async fn two_clients_relay_offer_answer_and_candidates_both_ways() {
    let server = ServerProcess::start(&[]).await;
    let (mut a, mut b, _, a_id, b_id) = pair(&server).await;

    a.send_json(json!({"type":"signal","to":b_id,"signal":{"kind":"offer","sdp":"v=0 offer"}}))
        .await;
    assert_eq!(
        expect_signal(&mut b, &a_id).await,
        Signal::Offer {
            sdp: "v=0 offer".into()
        }
    );
    b.send_json(json!({"type":"signal","to":a_id,"signal":{"kind":"answer","sdp":"v=0 answer"}}))
        .await;
    assert_eq!(
        expect_signal(&mut a, &b_id).await,
        Signal::Answer {
            sdp: "v=0 answer".into()
        }
    );
    exchange_candidates(&mut a, &a_id, &mut b, &b_id).await;
    exchange_candidates(&mut b, &b_id, &mut a, &a_id).await;
}

async fn exchange_candidates(
    from: &mut RawClient,
    from_id: &PeerId,
    to: &mut RawClient,
    to_id: &PeerId,
) {
    let candidate = "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host";
    from.send_json(
        json!({"type":"signal","to":to_id,"signal":{"kind":"candidate",
        "candidate":{"candidate":candidate,"sdpMid":"0","sdpMLineIndex":0}}}),
    )
    .await;
    match expect_signal(to, from_id).await {
        Signal::Candidate { candidate: c } => {
            assert_eq!(c.candidate, candidate);
            assert_eq!(c.sdp_mid.as_deref(), Some("0"));
            assert_eq!(c.sdp_mline_index, Some(0));
        }
        other => panic!("expected a candidate, got {other:?}"),
    }
    from.send_json(json!({"type":"signal","to":to_id,"signal":{"kind":"end_of_candidates"}}))
        .await;
    assert_eq!(expect_signal(to, from_id).await, Signal::EndOfCandidates);
}

#[tokio::test]
async fn a_client_over_capacity_gets_room_full() {
    let server = ServerProcess::start(&["--room-capacity", "2"]).await;
    let (_a, _b, code, _, _) = pair(&server).await;
    let mut c = RawClient::greeted(&server.ws_url()).await;
    let message = match c.join(&code, "Cy").await {
        ServerMessage::Error {
            code,
            message,
            request,
        } => {
            assert_eq!(code, ErrorCode::RoomFull);
            assert_eq!(request.as_deref(), Some("join"));
            message
        }
        other => panic!("expected room_full, got {other:?}"),
    };
    assert!(message.contains("full"), "{message}");
}

#[tokio::test]
async fn unknown_and_malformed_codes_are_told_apart() {
    let server = ServerProcess::start(&[]).await;
    let mut c = RawClient::greeted(&server.ws_url()).await;
    c.send_json(json!({"type":"join","room":"k7wq-2m9x-d4tp","name":"Cy"}))
        .await;
    let message = c.expect_error(ErrorCode::RoomNotFound).await;
    assert!(message.contains("k7wq-2m9x-d4tp"), "{message}");
    c.send_json(json!({"type":"join","room":"k7wq-2m9x","name":"Cy"}))
        .await;
    let message = c.expect_error(ErrorCode::InvalidRoomCode).await;
    assert!(message.contains("12 letters and digits"), "{message}");
}

#[tokio::test]
async fn a_code_typed_in_lower_case_without_dashes_joins_the_same_room() {
    let server = ServerProcess::start(&[]).await;
    let mut a = RawClient::greeted(&server.ws_url()).await;
    let code = a.create_room().await;
    a.join(&code, "Ada").await;
    let typed = code.replace('-', "").to_uppercase();
    let mut b = RawClient::greeted(&server.ws_url()).await;
    match b.join(&typed, "Bo").await {
        ServerMessage::Joined { room, peers, .. } => {
            assert_eq!(room.to_string(), code);
            assert_eq!(peers.len(), 1);
        }
        other => panic!("expected joined, got {other:?}"),
    }
    // and the lower-case, dash-less form too
    let mut c = RawClient::greeted(&server.ws_url()).await;
    match c.join(&code.replace('-', ""), "Cy").await {
        ServerMessage::Joined { peers, .. } => assert_eq!(peers.len(), 2),
        other => panic!("expected joined, got {other:?}"),
    }
}

#[tokio::test]
async fn bad_messages_get_clear_errors_and_the_room_keeps_working() {
    let server = ServerProcess::start(&["--max-message-bytes", "2048"]).await;
    let (mut a, mut b, _, a_id, b_id) = pair(&server).await;
    let mut elsewhere = RawClient::greeted(&server.ws_url()).await;
    let other_code = elsewhere.create_room().await;
    let other_id = peer_id(&elsewhere.join(&other_code, "Eve").await);

    a.send("{this is not json").await;
    let message = a.expect_error(ErrorCode::BadMessage).await;
    assert!(
        message.contains("JSON") || message.contains("json") || message.contains("key"),
        "{message}"
    );

    a.send(r#"{"type":"teleport","to":"mars"}"#).await;
    let message = a.expect_error(ErrorCode::UnknownType).await;
    assert!(message.contains("teleport"), "{message}");

    a.send(r#"{"type":"signal","to":42}"#).await;
    a.expect_error(ErrorCode::BadMessage).await;

    let huge = "x".repeat(4000);
    a.send_json(json!({"type":"signal","to":b_id,"signal":{"kind":"offer","sdp":huge}}))
        .await;
    let message = a.expect_error(ErrorCode::TooLarge).await;
    assert!(message.contains("2048"), "{message}");

    a.send_json(json!({"type":"signal","to":other_id,"signal":{"kind":"offer","sdp":"v=0"}}))
        .await;
    let message = a.expect_error(ErrorCode::PeerNotFound).await;
    assert!(message.contains(&other_id.0), "{message}");

    // Nothing leaked to the other room, and this room still relays both ways.
    assert!(elsewhere
        .try_recv(Duration::from_millis(200))
        .await
        .is_none());
    a.send_json(json!({"type":"signal","to":b_id,"signal":{"kind":"offer","sdp":"still here"}}))
        .await;
    assert_eq!(
        expect_signal(&mut b, &a_id).await,
        Signal::Offer {
            sdp: "still here".into()
        }
    );
    b.send_json(json!({"type":"signal","to":a_id,"signal":{"kind":"answer","sdp":"yes"}}))
        .await;
    assert_eq!(
        expect_signal(&mut a, &b_id).await,
        Signal::Answer { sdp: "yes".into() }
    );

    let (_, metrics) = server.get("/metrics").await;
    for code in ["bad_message", "unknown_type", "too_large", "peer_not_found"] {
        let line = format!("tincan_errors_total{{code=\"{code}\"}} ");
        let count = metrics
            .lines()
            .find_map(|l| l.strip_prefix(&line))
            .unwrap_or_else(|| panic!("{line} in metrics:\n{metrics}"));
        assert_ne!(count.trim(), "0", "{code}");
    }
}

#[tokio::test]
async fn messages_before_hello_and_wrong_versions_are_refused() {
    let server = ServerProcess::start(&[]).await;
    let mut c = RawClient::connect(&server.ws_url()).await;
    c.send(r#"{"type":"create_room"}"#).await;
    c.expect_error(ErrorCode::HandshakeRequired).await;
    c.send(r#"{"type":"hello","version":99}"#).await;
    let message = c.expect_error(ErrorCode::UnsupportedVersion).await;
    assert!(message.contains("version 1"), "{message}");
    // The same connection can still say a version the server speaks.
    c.send(r#"{"type":"hello","version":1}"#).await;
    assert!(matches!(
        c.recv().await,
        ServerMessage::Welcome { version: 1, .. }
    ));
}

#[tokio::test]
async fn guessing_codes_past_the_limit_is_rate_limited() {
    let server = ServerProcess::start(&["--joins-per-minute", "5"]).await;
    let mut guesser = RawClient::greeted(&server.ws_url()).await;
    for i in 0..5u64 {
        let guess = tincan_protocol::RoomCode::from_value(i).to_string();
        guesser
            .send_json(json!({"type":"join","room":guess,"name":"x"}))
            .await;
        guesser.expect_error(ErrorCode::RoomNotFound).await;
    }
    guesser
        .send_json(json!({"type":"join","room":"0000-0000-0009","name":"x"}))
        .await;
    let message = guesser.expect_error(ErrorCode::RateLimited).await;
    assert!(message.contains("minute"), "{message}");
    // A new connection from the same address does not reset the count.
    let mut again = RawClient::greeted(&server.ws_url()).await;
    again.send(r#"{"type":"create_room"}"#).await;
    again.expect_error(ErrorCode::RateLimited).await;
}

#[tokio::test]
async fn flooding_messages_is_rate_limited_without_closing() {
    let server =
        ServerProcess::start(&["--messages-per-second", "5", "--message-burst", "10"]).await;
    let mut c = RawClient::greeted(&server.ws_url()).await;
    for _ in 0..30 {
        c.send(r#"{"type":"ping"}"#).await;
    }
    let mut pongs = 0;
    let mut limited = 0;
    while let Some(message) = c.try_recv(Duration::from_millis(300)).await {
        match message {
            ServerMessage::Pong { .. } => pongs += 1,
            ServerMessage::Error {
                code: ErrorCode::RateLimited,
                ..
            } => limited += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        (9..=12).contains(&pongs),
        "burst of 10 (+refill) answered, got {pongs}"
    );
    assert_eq!(
        limited, 1,
        "one rate_limited error per second, not one per message"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    c.send(r#"{"type":"ping","nonce":5}"#).await;
    assert_eq!(c.recv().await, ServerMessage::Pong { nonce: Some(5) });
}

#[tokio::test]
async fn leaving_and_dropping_the_socket_tell_the_others() {
    let server = ServerProcess::start(&["--reconnect-grace", "300ms"]).await;
    let (mut a, mut b, code, a_id, b_id) = pair(&server).await;

    b.send(r#"{"type":"leave"}"#).await;
    assert_eq!(b.recv().await, ServerMessage::Left);
    assert_eq!(
        a.recv().await,
        ServerMessage::PeerLeft {
            peer_id: b_id,
            reason: LeaveReason::Left
        }
    );

    // b comes back on the same connection as a new peer, then drops its socket.
    let b_id = peer_id(&b.join(&code, "Bo").await);
    assert!(matches!(a.recv().await, ServerMessage::PeerJoined { .. }));
    b.drop_connection();
    // The others hear at once that it went away; its place is kept for the reconnect grace
    // (300 ms), then they are told it left.
    assert_eq!(
        a.recv().await,
        ServerMessage::PeerAway {
            peer_id: b_id.clone()
        }
    );
    assert!(
        a.try_recv(Duration::from_millis(150)).await.is_none(),
        "told too early"
    );
    assert_eq!(
        a.recv().await,
        ServerMessage::PeerLeft {
            peer_id: b_id,
            reason: LeaveReason::Disconnected
        }
    );
    let _ = a_id;
}

#[tokio::test]
async fn a_dropped_peer_resumes_its_place_with_its_token() {
    let server = ServerProcess::start(&["--reconnect-grace", "5s"]).await;
    let mut a = RawClient::greeted(&server.ws_url()).await;
    let code = a.create_room().await;
    let joined = a.join(&code, "Ada").await;
    let ServerMessage::Joined {
        peer_id: a_id,
        resume_token,
        ..
    } = joined
    else {
        panic!("{joined:?}")
    };
    let mut b = RawClient::greeted(&server.ws_url()).await;
    let b_id = peer_id(&b.join(&code, "Bo").await);
    a.recv().await; // peer_joined
    a.drop_connection();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // b signals a while a is away; it is held.
    b.send_json(json!({"type":"signal","to":a_id,"signal":{"kind":"offer","sdp":"held"}}))
        .await;
    let mut a2 = RawClient::greeted(&server.ws_url()).await;
    a2.send_json(json!({"type":"join","room":code,"name":"Ada","resume":resume_token}))
        .await;
    match a2.recv().await {
        ServerMessage::Joined {
            peer_id,
            resumed,
            peers,
            ..
        } => {
            assert_eq!(peer_id, a_id);
            assert!(resumed);
            assert_eq!(peers.len(), 1);
        }
        other => panic!("expected joined, got {other:?}"),
    }
    assert_eq!(
        expect_signal(&mut a2, &b_id).await,
        Signal::Offer { sdp: "held".into() }
    );
    // b heard that a went away and came back, never that it left.
    assert_eq!(
        b.recv().await,
        ServerMessage::PeerAway {
            peer_id: a_id.clone()
        }
    );
    assert!(
        matches!(b.recv().await, ServerMessage::PeerJoined { peer } if peer.id == a_id),
        "b is told a is back"
    );
    assert!(
        b.try_recv(Duration::from_millis(200)).await.is_none(),
        "b saw no leave"
    );
}

#[tokio::test]
async fn an_empty_room_is_gone_after_its_grace_period() {
    let server = ServerProcess::start(&["--room-grace", "400ms"]).await;
    let mut a = RawClient::greeted(&server.ws_url()).await;
    let code = a.create_room().await;
    a.join(&code, "Ada").await;
    a.send(r#"{"type":"leave"}"#).await;
    assert_eq!(a.recv().await, ServerMessage::Left);
    // Within the grace the code still works...
    assert!(matches!(
        a.join(&code, "Ada").await,
        ServerMessage::Joined { .. }
    ));
    a.send(r#"{"type":"leave"}"#).await;
    a.recv().await;
    // ...after it, it does not.
    tokio::time::sleep(Duration::from_millis(700)).await;
    a.send_json(json!({"type":"join","room":code,"name":"Ada"}))
        .await;
    a.expect_error(ErrorCode::RoomNotFound).await;
    let (_, metrics) = server.get("/metrics").await;
    assert!(metrics.contains("tincan_rooms 0"), "{metrics}");
}

#[tokio::test]
async fn turn_credentials_verify_with_coturns_hmac_scheme() {
    let server = ServerProcess::start(&[
        "--stun",
        "stun:turn.example.org:3478",
        "--turn",
        "turn:turn.example.org:3478?transport=udp",
        "--turn-secret",
        "north-wind",
        "--turn-ttl",
        "1h",
    ])
    .await;
    let mut a = RawClient::greeted(&server.ws_url()).await;
    let code = a.create_room().await;
    let ServerMessage::Joined {
        ice_servers,
        peer_id,
        ..
    } = a.join(&code, "Ada").await
    else {
        panic!("not joined")
    };
    assert_eq!(ice_servers.len(), 2);
    assert_eq!(ice_servers[0].urls, ["stun:turn.example.org:3478"]);
    assert!(ice_servers[0].username.is_none());
    let turn = &ice_servers[1];
    assert_eq!(turn.urls, ["turn:turn.example.org:3478?transport=udp"]);
    let username = turn.username.as_deref().expect("a TURN username");
    let password = turn.credential.as_deref().expect("a TURN password");

    // coturn's use-auth-secret: username "<expiry>:<anything>", password
    // base64(HMAC-SHA1(secret, username)). Checked with openssl, an implementation of its own.
    let (expiry, label) = username.split_once(':').expect("expiry:label");
    assert_eq!(label, peer_id.0);
    let expiry: u64 = expiry.parse().expect("unix time");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        (now + 3590..=now + 3610).contains(&expiry),
        "valid for an hour"
    );
    let script = format!(
        "printf '%s' '{username}' | openssl dgst -sha1 -hmac 'north-wind' -binary | base64"
    );
    let out = std::process::Command::new("sh")
        .args(["-c", &script])
        .output()
        .expect("openssl runs");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), password);

    // A call that outlasts them asks for fresh ones: the same servers, a later expiry.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    a.send(r#"{"type":"refresh_ice"}"#).await;
    let ServerMessage::IceServers { ice_servers: fresh } = a.recv().await else {
        panic!("no ice_servers")
    };
    assert_eq!(fresh.len(), 2);
    assert_eq!(fresh[1].urls, turn.urls);
    let fresh_expiry: u64 = fresh[1]
        .username
        .as_deref()
        .and_then(|u| u.split(':').next()?.parse().ok())
        .expect("a TURN username");
    assert!(fresh_expiry > expiry, "{fresh_expiry} after {expiry}");
    // Outside a room there is nothing to refresh.
    let mut b = RawClient::greeted(&server.ws_url()).await;
    b.send(r#"{"type":"refresh_ice"}"#).await;
    b.expect_error(ErrorCode::NotInRoom).await;
}

/// Health on the public address; metrics only on their own (loopback) address.
#[tokio::test]
async fn health_and_metrics_are_served() {
    let server = ServerProcess::start(&[]).await;
    assert_eq!(server.get("/healthz").await, (200, "ok\n".into()));
    let metrics_addr = server
        .metrics_addr
        .expect("metrics on an address of their own");
    assert_ne!(metrics_addr, server.addr);
    let (public, _) = tincan_e2e::http_get(server.addr, "/metrics").await;
    assert_eq!(public, 404, "metrics on the public address");
    let (_a, _b, _, _, _) = pair(&server).await;
    let (status, metrics) = server.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(metrics.contains("tincan_connections 2"), "{metrics}");
    assert!(metrics.contains("tincan_rooms 1"), "{metrics}");
    assert!(metrics.contains("tincan_peers 2"), "{metrics}");
    assert!(
        metrics.contains("tincan_errors_total{code=\"room_full\"} 0"),
        "{metrics}"
    );
}

#[tokio::test]
async fn the_connection_limit_refuses_with_server_full() {
    let server = ServerProcess::start(&["--max-connections", "2"]).await;
    let _a = RawClient::greeted(&server.ws_url()).await;
    let _b = RawClient::greeted(&server.ws_url()).await;
    let mut c = RawClient::connect(&server.ws_url()).await;
    let message = c.expect_error(ErrorCode::ServerFull).await;
    assert!(message.contains("try again"), "{message}");
    assert!(c.closed_within(Duration::from_secs(2)).await, "then closed");
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_idle_timeout() {
    let server = ServerProcess::start(&["--heartbeat", "100ms", "--idle-timeout", "300ms"]).await;
    // tungstenite answers pings only while the socket is read; a client that never reads is
    // silent, as a dead network would be.
    let mut c = RawClient::greeted(&server.ws_url()).await;
    let mut talker = RawClient::greeted(&server.ws_url()).await;
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        talker.send(r#"{"type":"ping"}"#).await;
        talker.recv().await;
    }
    assert!(
        c.closed_within(Duration::from_millis(100)).await,
        "the silent one is closed"
    );
    assert!(
        !talker.closed_within(Duration::from_millis(100)).await,
        "the talker is not"
    );
}

/// `GET /lan/lookup` (docs/protocol.md, "Finding a room on the LAN"): a hosted room's tag gets
/// a proof only its code could make, another tag 404, a malformed query 400; lookups spend the
/// asker's join budget (429 when it is spent); a server not hosting for a LAN answers none.
#[tokio::test]
async fn lan_lookups_prove_a_room_without_its_code_and_spend_the_join_budget() {
    use tincan_protocol::lan::{new_nonce, proof_matches, room_tag, LookupReply};
    use tincan_protocol::RoomCode;
    let server = ServerProcess::start(&["--lan-lookup", "--joins-per-minute", "4"]).await;
    let mut host = RawClient::greeted(&server.ws_url()).await;
    let code = RoomCode::parse(&host.create_room().await).unwrap();
    let nonce = new_nonce().unwrap();
    let lookup = |tag: String, nonce: String| {
        let server = &server;
        async move {
            server
                .get(&format!("/lan/lookup?tag={tag}&nonce={nonce}"))
                .await
        }
    };
    let (status, body) = lookup(room_tag(&code), nonce.clone()).await;
    assert_eq!(status, 200, "{body}");
    let reply: LookupReply = serde_json::from_str(&body).unwrap();
    assert!(proof_matches(&code, &nonce, &reply.proof));
    let other = RoomCode::from_value(code.value() ^ 1);
    assert_eq!(lookup(room_tag(&other), nonce.clone()).await.0, 404);
    assert_eq!(lookup("XYZ".into(), nonce.clone()).await.0, 400);
    // One creation and two lookups so far: one attempt is left of four, then 429.
    assert_eq!(lookup(room_tag(&other), nonce.clone()).await.0, 404);
    assert_eq!(lookup(room_tag(&code), nonce.clone()).await.0, 429);

    let plain = ServerProcess::start(&[]).await;
    let mut host = RawClient::greeted(&plain.ws_url()).await;
    let code = RoomCode::parse(&host.create_room().await).unwrap();
    let (status, _) = plain
        .get(&format!(
            "/lan/lookup?tag={}&nonce={nonce}",
            room_tag(&code)
        ))
        .await;
    assert_eq!(
        status, 404,
        "a server not hosting for a LAN is no room oracle"
    );
}
