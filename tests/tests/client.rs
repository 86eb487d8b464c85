//! The Rust signaling client against a real tincan-server process.

use std::time::Duration;

use tincan_e2e::{Cable, ServerProcess};
use tincan_protocol::{ErrorCode, LeaveReason, PeerId, Signal};
use tincan_signaling::{connect, ClientOptions, Event, ReconnectPolicy, Signaling, SignalingError};
use tokio::sync::mpsc::Receiver;

fn quick_reconnect() -> ClientOptions {
    ClientOptions {
        reconnect: ReconnectPolicy {
            first_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(200),
            give_up_after: Duration::from_secs(10),
        },
        ..ClientOptions::default()
    }
}

async fn next_event(events: &mut Receiver<Event>) -> Event {
    tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .expect("an event within 5 s")
        .expect("the client is still running")
}

/// Skips `Reconnecting` events and returns the `Reconnected` one.
async fn reconnected(events: &mut Receiver<Event>) -> Option<tincan_signaling::Joined> {
    loop {
        match next_event(events).await {
            Event::Reconnecting { .. } => continue,
            Event::Reconnected { joined } => return joined,
            other => panic!("expected a reconnect, got {other:?}"),
        }
    }
}

async fn no_event(events: &mut Receiver<Event>, wait: Duration) {
    if let Ok(Some(event)) = tokio::time::timeout(wait, events.recv()).await {
        panic!("expected nothing, got {event:?}");
    }
}

/// The next signal, past the news of peers going away and coming back that a reconnect brings.
async fn expect_signal(events: &mut Receiver<Event>, from: &PeerId) -> Signal {
    loop {
        match next_event(events).await {
            Event::Signal { from: got, signal } => {
                assert_eq!(&got, from);
                return signal;
            }
            Event::PeerAway { .. } | Event::PeerJoined(_) => continue,
            other => panic!("expected a signal, got {other:?}"),
        }
    }
}

struct Peer {
    client: Signaling,
    events: Receiver<Event>,
    id: PeerId,
}

async fn two_peers(url: &str, options: ClientOptions) -> (Peer, Peer, String) {
    two_peers_via(url, url, options).await
}

/// Like `two_peers`, with each peer reaching the server its own way.
async fn two_peers_via(a_url: &str, b_url: &str, options: ClientOptions) -> (Peer, Peer, String) {
    let (a, mut a_events) = connect(a_url, options.clone()).await.expect("a connects");
    let room = a.create_room().await.expect("room created").to_string();
    let a_joined = a.join(&room, "Ada").await.expect("a joins");
    assert!(a_joined.peers.is_empty());
    assert!(!a_joined.resumed);
    let (b, b_events) = connect(b_url, options).await.expect("b connects");
    let b_joined = b.join(&room, "Bo").await.expect("b joins");
    assert_eq!(b_joined.peers[0].id, a_joined.peer_id);
    match next_event(&mut a_events).await {
        Event::PeerJoined(peer) => assert_eq!(peer.id, b_joined.peer_id),
        other => panic!("expected peer_joined, got {other:?}"),
    }
    (
        Peer {
            client: a,
            events: a_events,
            id: a_joined.peer_id,
        },
        Peer {
            client: b,
            events: b_events,
            id: b_joined.peer_id,
        },
        room,
    )
}

#[tokio::test]
async fn create_join_and_signal_both_ways() {
    let server = ServerProcess::start(&[]).await;
    let (mut a, mut b, _) = two_peers(&server.addr.to_string(), ClientOptions::default()).await;
    let offer = Signal::Offer {
        sdp: "v=0 a".into(),
    };
    a.client
        .send_signal(b.id.clone(), offer.clone())
        .await
        .unwrap();
    assert_eq!(expect_signal(&mut b.events, &a.id).await, offer);
    let answer = Signal::Answer {
        sdp: "v=0 b".into(),
    };
    b.client
        .send_signal(a.id.clone(), answer.clone())
        .await
        .unwrap();
    assert_eq!(expect_signal(&mut a.events, &b.id).await, answer);

    b.client.leave().await.expect("b leaves");
    assert_eq!(
        next_event(&mut a.events).await,
        Event::PeerLeft {
            peer_id: b.id.clone(),
            reason: LeaveReason::Left
        }
    );
    // A refused signal arrives as an event, and the client goes on.
    a.client
        .send_signal(b.id.clone(), Signal::EndOfCandidates)
        .await
        .unwrap();
    match next_event(&mut a.events).await {
        Event::Error { code, .. } => assert_eq!(code, ErrorCode::PeerNotFound),
        other => panic!("expected an error event, got {other:?}"),
    }
}

#[tokio::test]
async fn refusals_and_dead_servers_give_clear_errors() {
    let server = ServerProcess::start(&["--room-capacity", "1"]).await;
    let (client, _events) = connect(&server.ws_url(), ClientOptions::default())
        .await
        .unwrap();
    let err = client.join("k7wq-2m9x-d4tp", "Ada").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::RoomNotFound));
    assert!(err.to_string().contains("k7wq-2m9x-d4tp"), "{err}");
    let err = client.join("k7wq", "Ada").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::InvalidRoomCode));

    let room = client.create_room().await.unwrap().to_string();
    client.join(&room, "Ada").await.unwrap();
    let (other, _) = connect(&server.ws_url(), ClientOptions::default())
        .await
        .unwrap();
    let err = other.join(&room, "Bo").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::RoomFull));

    let addr = server.addr;
    server.stop().await;
    let err = match connect(&addr.to_string(), ClientOptions::default()).await {
        Err(e) => e,
        Ok(_) => panic!("connected to a stopped server"),
    };
    assert!(matches!(err, SignalingError::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains("server is running"), "{err}");

    let err = match connect("gopher://example.org", ClientOptions::default()).await {
        Err(e) => e,
        Ok(_) => panic!("accepted a gopher URL"),
    };
    assert!(matches!(err, SignalingError::BadUrl { .. }), "{err:?}");
}

#[tokio::test]
async fn a_brief_drop_resumes_the_same_place() {
    let server = ServerProcess::start(&["--reconnect-grace", "5s"]).await;
    let cable = Cable::to(server.addr).await;
    let url = cable.addr.to_string();
    let (mut a, mut b, _) = two_peers(&url, quick_reconnect()).await;

    cable.cut();
    let joined = reconnected(&mut a.events).await.expect("back in the room");
    assert!(joined.resumed, "same place");
    assert_eq!(joined.peer_id, a.id);
    assert_eq!(joined.peers.len(), 1);
    let joined = reconnected(&mut b.events).await.expect("back in the room");
    assert!(joined.resumed);
    // Neither saw the other leave, and signals flow as before.
    let offer = Signal::Offer {
        sdp: "after".into(),
    };
    a.client
        .send_signal(b.id.clone(), offer.clone())
        .await
        .unwrap();
    assert_eq!(expect_signal(&mut b.events, &a.id).await, offer);
    b.client
        .send_signal(a.id.clone(), Signal::EndOfCandidates)
        .await
        .unwrap();
    assert_eq!(
        expect_signal(&mut a.events, &b.id).await,
        Signal::EndOfCandidates
    );
}

#[tokio::test]
async fn signals_sent_during_an_outage_arrive_after_it() {
    let server = ServerProcess::start(&["--reconnect-grace", "5s"]).await;
    let cable = Cable::to(server.addr).await;
    let (a, b, _) = two_peers(&cable.addr.to_string(), quick_reconnect()).await;
    // b is reachable directly; only a's cable goes down.
    let (b_direct, mut b_events) = (b.client, b.events);
    let Peer {
        client: a_client,
        events: mut a_events,
        id: a_id,
    } = a;

    cable.set_down(true);
    match next_event(&mut a_events).await {
        Event::Reconnecting { .. } => {}
        other => panic!("expected reconnecting, got {other:?}"),
    }
    a_client
        .send_signal(
            b.id.clone(),
            Signal::Offer {
                sdp: "queued".into(),
            },
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    cable.set_down(false);
    let joined = reconnected(&mut a_events).await.expect("back");
    assert!(joined.resumed);
    // b's own connection went through the cable too, and also resumed.
    let joined = reconnected(&mut b_events).await.expect("back");
    assert!(joined.resumed);
    assert_eq!(
        expect_signal(&mut b_events, &a_id).await,
        Signal::Offer {
            sdp: "queued".into()
        }
    );
    drop(b_direct);
}

#[tokio::test]
async fn a_long_outage_rejoins_as_a_new_peer() {
    let server = ServerProcess::start(&["--reconnect-grace", "200ms"]).await;
    let cable = Cable::to(server.addr).await;
    // Only a goes through the cable; b stays connected throughout.
    let (a, _b, room) =
        two_peers_via(&cable.addr.to_string(), &server.ws_url(), quick_reconnect()).await;
    // A third peer straight to the server watches what the room sees.
    let (watcher, mut watch) = connect(&server.ws_url(), quick_reconnect()).await.unwrap();
    watcher.join(&room, "Wes").await.unwrap();
    let Peer {
        events: mut a_events,
        id: a_id,
        ..
    } = a;
    assert!(matches!(next_event(&mut a_events).await, Event::PeerJoined(p) if p.name == "Wes"));

    cable.set_down(true);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mut left = Vec::new();
    while let Ok(Some(event)) = tokio::time::timeout(Duration::from_millis(100), watch.recv()).await
    {
        if let Event::PeerLeft { peer_id, reason } = event {
            assert_eq!(reason, LeaveReason::Disconnected);
            left.push(peer_id);
        }
    }
    assert!(left.contains(&a_id), "the room was told a left: {left:?}");
    cable.set_down(false);
    let joined = reconnected(&mut a_events).await.expect("back in the room");
    assert!(!joined.resumed, "the place was given up");
    assert_ne!(joined.peer_id, a_id, "a new peer id");
    no_event(&mut a_events, Duration::from_millis(100)).await;
}

#[tokio::test]
async fn a_restarted_server_gives_the_room_back_to_its_members() {
    let key = std::env::temp_dir().join(format!("tincan-restart-key-{}", std::process::id()));
    let key = key.display().to_string();
    let server = ServerProcess::start(&["--key-file", &key]).await;
    let addr = server.addr.to_string();
    let (mut a, mut b, room) = two_peers(&server.ws_url(), quick_reconnect()).await;

    server.stop().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let server = ServerProcess::start_on(&addr, &["--key-file", &key]).await;
    // Both take their places back, with their ids, in the room re-created under its code.
    let joined = reconnected(&mut a.events)
        .await
        .expect("a is back in the room");
    assert!(joined.resumed);
    assert_eq!(joined.peer_id, a.id);
    assert_eq!(joined.room.to_string(), room);
    let joined = reconnected(&mut b.events)
        .await
        .expect("b is back in the room");
    assert!(joined.resumed);
    assert_eq!(joined.peer_id, b.id);
    // Signals flow as before.
    let offer = Signal::Offer {
        sdp: "after the restart".into(),
    };
    a.client
        .send_signal(b.id.clone(), offer.clone())
        .await
        .unwrap();
    assert_eq!(expect_signal(&mut b.events, &a.id).await, offer);
    // And someone new finds them both there.
    let (c, _c_events) = connect(&server.ws_url(), quick_reconnect()).await.unwrap();
    let joined = c
        .join(&room, "Cy")
        .await
        .expect("c joins the re-created room");
    let mut there: Vec<PeerId> = joined.peers.into_iter().map(|p| p.id).collect();
    there.sort();
    let mut expected = vec![a.id.clone(), b.id.clone()];
    expected.sort();
    assert_eq!(there, expected);
    let _ = std::fs::remove_file(&key);
}

#[tokio::test]
async fn wss_with_a_private_certificate() {
    let dir = std::env::temp_dir().join(format!("tincan-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    let server = ServerProcess::start(&[
        "--tls-cert",
        cert_path.to_str().unwrap(),
        "--tls-key",
        key_path.to_str().unwrap(),
    ])
    .await;
    let url = format!("wss://localhost:{}", server.addr.port());

    // Untrusted by default: a clear TLS failure, not a hang.
    let err = match connect(&url, ClientOptions::default()).await {
        Err(e) => e,
        Ok(_) => panic!("trusted a self-signed certificate"),
    };
    assert!(
        matches!(
            err,
            SignalingError::Unreachable { .. } | SignalingError::Tls(_)
        ),
        "{err:?}"
    );

    let options = ClientOptions::default()
        .trust_pem(cert.cert.pem().as_bytes())
        .unwrap();
    let (client, _) = connect(&url, options).await.expect("wss connects");
    let room = client.create_room().await.unwrap();
    client.join(&room.to_string(), "Ada").await.unwrap();
    std::fs::remove_dir_all(&dir).ok();
}
