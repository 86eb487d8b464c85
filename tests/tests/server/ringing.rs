//! Ringing people by their personal code, through a real server process: only the holder of
//! a key registers its code, a ring reaches the callee with the caller's checked code and
//! ends once for both sides, and presence follows a person coming and going.

use std::time::{Duration, Instant};

use serde_json::json;
use tincan_e2e::{RawClient, ServerProcess};
use tincan_protocol::{ErrorCode, PersonalCode, PersonalKey, RingEnd, ServerMessage};

/// The server as a client dials it (`127.0.0.1:PORT`), which a registration signs.
fn dialled(server: &ServerProcess) -> String {
    server
        .ws_url()
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .expect("a ws://HOST:PORT/ws URL")
        .to_owned()
}

/// A greeted client registered with `key`.
async fn registered(server: &ServerProcess, key: &PersonalKey) -> RawClient {
    let (mut client, nonce) = RawClient::connect(&server.ws_url())
        .await
        .greet_for_nonce()
        .await;
    let proof = key.prove(&dialled(server), &nonce);
    client
        .send_json(json!({"type":"register","key":key.public(),"proof":proof}))
        .await;
    match client.recv().await {
        ServerMessage::Registered { code } => assert_eq!(code, key.code()),
        other => panic!("expected registered, got {other:?}"),
    }
    client
}

fn refused(message: ServerMessage) -> ErrorCode {
    match message {
        ServerMessage::Error { code, .. } => code,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test]
async fn nobody_registers_a_code_without_its_key() {
    let server = ServerProcess::start(&[]).await;
    let ada = PersonalKey::generate().unwrap();
    let mallory = PersonalKey::generate().unwrap();
    let _ada_online = registered(&server, &ada).await;

    let (mut m, nonce) = RawClient::connect(&server.ws_url())
        .await
        .greet_for_nonce()
        .await;
    // Ada's public key with Mallory's signature; a proof of Ada's from another connection
    // (replayed); one Ada made for another server (relayed): all refused.
    let forged = mallory.prove(&dialled(&server), &nonce);
    m.send_json(json!({"type":"register","key":ada.public(),"proof":forged}))
        .await;
    assert_eq!(refused(m.recv().await), ErrorCode::BadProof);
    let replayed = ada.prove(&dialled(&server), "another connection's nonce");
    m.send_json(json!({"type":"register","key":ada.public(),"proof":replayed}))
        .await;
    assert_eq!(refused(m.recv().await), ErrorCode::BadProof);
    let relayed = ada.prove("evil.example:443", &nonce);
    m.send_json(json!({"type":"register","key":ada.public(),"proof":relayed}))
        .await;
    assert_eq!(refused(m.recv().await), ErrorCode::BadProof);
    // Mallory can ring Ada under her own code only: Ada sees who rings.
    m.send_json(json!({"type":"register","key":mallory.public(),"proof":forged}))
        .await;
    match m.recv().await {
        ServerMessage::Registered { code } => assert_eq!(code, mallory.code()),
        other => panic!("expected registered, got {other:?}"),
    }
}

#[tokio::test]
async fn a_ring_is_answered_or_times_out_and_each_side_hears_how_it_ended() {
    let server = ServerProcess::start(&["--ring-timeout", "2s"]).await;
    let (ada_key, bo_key) = (
        PersonalKey::generate().unwrap(),
        PersonalKey::generate().unwrap(),
    );
    let mut ada = registered(&server, &ada_key).await;
    let mut bo = registered(&server, &bo_key).await;
    let room = ada.create_room().await;

    // Ringing needs a room that exists and a callee who is online.
    ada.send_json(json!({"type":"ring","to":bo_key.code(),"name":"Ada","room":"zzzz-zzzz-zzzz"}))
        .await;
    assert_eq!(refused(ada.recv().await), ErrorCode::RoomNotFound);
    let nobody = PersonalKey::generate().unwrap().code();
    ada.send_json(json!({"type":"ring","to":nobody,"name":"Ada","room":room}))
        .await;
    assert_eq!(refused(ada.recv().await), ErrorCode::Offline);

    ada.send_json(json!({"type":"ring","to":bo_key.code(),"name":"Ada","room":room}))
        .await;
    let ServerMessage::RingSent { ring, .. } = ada.recv().await else {
        panic!("expected ring_sent");
    };
    match bo.recv().await {
        ServerMessage::Ringing {
            ring: got,
            from,
            name,
            room: to_room,
        } => {
            assert_eq!(got, ring);
            assert_eq!(
                from,
                ada_key.code(),
                "the caller's code as the server checked it"
            );
            assert_eq!(name, "Ada");
            assert_eq!(to_room.to_string(), room);
        }
        other => panic!("expected ringing, got {other:?}"),
    }
    bo.send_json(json!({"type":"answer_ring","ring":ring,"answer":"decline"}))
        .await;
    for side in [&mut ada, &mut bo] {
        match side.recv().await {
            ServerMessage::RingEnded { reason, .. } => assert_eq!(reason, RingEnd::Declined),
            other => panic!("expected ring_ended, got {other:?}"),
        }
    }

    // Unanswered: both hear no_answer at the timeout (2 s here), not before.
    let rang = Instant::now();
    ada.send_json(json!({"type":"ring","to":bo_key.code(),"name":"Ada","room":room}))
        .await;
    assert!(matches!(ada.recv().await, ServerMessage::RingSent { .. }));
    assert!(matches!(bo.recv().await, ServerMessage::Ringing { .. }));
    for side in [&mut ada, &mut bo] {
        match side.recv().await {
            ServerMessage::RingEnded { reason, .. } => assert_eq!(reason, RingEnd::NoAnswer),
            other => panic!("expected ring_ended, got {other:?}"),
        }
    }
    let waited = rang.elapsed();
    assert!(
        (Duration::from_millis(1900)..Duration::from_secs(4)).contains(&waited),
        "the ring ended after {waited:?}"
    );
}

#[tokio::test]
async fn presence_follows_a_person_coming_and_going() {
    let server = ServerProcess::start(&[]).await;
    let bo_key = PersonalKey::generate().unwrap();
    let mut ada = RawClient::greeted(&server.ws_url()).await;
    ada.send_json(json!({"type":"watch","codes":[bo_key.code()]}))
        .await;
    let presence = |m: ServerMessage| -> (PersonalCode, bool) {
        match m {
            ServerMessage::Presence { code, online } => (code, online),
            other => panic!("expected presence, got {other:?}"),
        }
    };
    assert_eq!(presence(ada.recv().await), (bo_key.code(), false));
    let bo = registered(&server, &bo_key).await;
    assert_eq!(presence(ada.recv().await), (bo_key.code(), true));
    let gone = Instant::now();
    drop(bo);
    assert_eq!(presence(ada.recv().await), (bo_key.code(), false));
    assert!(gone.elapsed() < Duration::from_secs(5));
}
