//! The room rules, driven with the time passed in.

use super::*;
use tincan_protocol::decode_server;

fn rules() -> RoomRules {
    RoomRules {
        capacity: 2,
        room_grace: Duration::from_secs(60),
        reconnect_grace: Duration::from_secs(20),
        held_messages: 4,
    }
}

fn key() -> RoomKey {
    RoomKey::generate().unwrap()
}

fn outbox() -> (Outbox, mpsc::Receiver<String>) {
    mpsc::channel(8)
}

fn next(rx: &mut mpsc::Receiver<String>) -> ServerMessage {
    decode_server(&rx.try_recv().expect("a message")).expect("valid json")
}

#[test]
fn join_tells_the_others_and_lists_them() {
    let t = Instant::now();
    let mut reg = Registry::new(rules(), key());
    let (code, _) = reg.create_room(t).unwrap();
    let (tx_a, mut rx_a) = outbox();
    let a = reg.join(&code, "Ada", None, tx_a, 1).unwrap();
    assert!(a.peers.is_empty());
    let (tx_b, _rx_b) = outbox();
    let b = reg.join(&code, "Bo", None, tx_b, 2).unwrap();
    assert_eq!(
        b.peers,
        vec![PeerInfo {
            id: a.peer_id.clone(),
            name: "Ada".into()
        }]
    );
    assert!(matches!(next(&mut rx_a), ServerMessage::PeerJoined { peer } if peer.id == b.peer_id));
}

#[test]
fn capacity_is_enforced() {
    let t = Instant::now();
    let mut reg = Registry::new(rules(), key());
    let (code, _) = reg.create_room(t).unwrap();
    reg.join(&code, "a", None, outbox().0, 1).unwrap();
    reg.join(&code, "b", None, outbox().0, 2).unwrap();
    let err = reg.join(&code, "c", None, outbox().0, 3).unwrap_err();
    assert_eq!(err, ErrorCode::RoomFull);
}

#[test]
fn relay_only_within_a_room() {
    let t = Instant::now();
    let mut reg = Registry::new(rules(), key());
    let (one, _) = reg.create_room(t).unwrap();
    let (two, _) = reg.create_room(t).unwrap();
    let a = reg.join(&one, "a", None, outbox().0, 1).unwrap();
    let (tx_b, mut rx_b) = outbox();
    let b = reg.join(&one, "b", None, tx_b, 2).unwrap();
    let c = reg.join(&two, "c", None, outbox().0, 3).unwrap();
    let offer = Signal::Offer { sdp: "v=0".into() };
    reg.relay(&a.peer_id, &b.peer_id, offer.clone()).unwrap();
    assert_eq!(
        next(&mut rx_b),
        ServerMessage::Signal {
            from: a.peer_id.clone(),
            signal: offer.clone()
        }
    );
    assert_eq!(
        reg.relay(&a.peer_id, &c.peer_id, offer.clone()),
        Err(ErrorCode::PeerNotFound)
    );
    assert_eq!(
        reg.relay(&a.peer_id, &a.peer_id, offer),
        Err(ErrorCode::PeerNotFound)
    );
}

#[test]
fn a_dropped_peer_keeps_its_place_and_gets_held_messages() {
    let t = Instant::now();
    let mut reg = Registry::new(rules(), key());
    let (code, _) = reg.create_room(t).unwrap();
    let (tx_a, _rx_a) = outbox();
    let a = reg.join(&code, "a", None, tx_a, 1).unwrap();
    let (tx_b, mut rx_b) = outbox();
    let b = reg.join(&code, "b", None, tx_b, 2).unwrap();
    rx_b.try_recv().ok(); // nothing, b joined last

    let timer = reg.connection_lost(&a.peer_id, 1, t).unwrap();
    let offer = Signal::Offer { sdp: "x".into() };
    reg.relay(&b.peer_id, &a.peer_id, offer.clone()).unwrap();

    let (tx_a2, mut rx_a2) = outbox();
    let resumed = reg
        .join(&code, "a", Some(&a.resume_token), tx_a2, 3)
        .unwrap();
    assert!(resumed.resumed);
    assert_eq!(resumed.peer_id, a.peer_id);
    assert_eq!(
        next(&mut rx_a2),
        ServerMessage::Signal {
            from: b.peer_id.clone(),
            signal: offer
        }
    );
    // b hears that a went away, then that it is back, with the same id.
    assert_eq!(
        next(&mut rx_b),
        ServerMessage::PeerAway {
            peer_id: a.peer_id.clone()
        }
    );
    assert!(matches!(next(&mut rx_b), ServerMessage::PeerJoined { peer } if peer.id == a.peer_id));
    assert!(rx_b.try_recv().is_err());

    // The old timer finds the peer back and does nothing.
    let Timer::Peer { id, since, at } = timer else {
        panic!()
    };
    assert_eq!(
        reg.expire_peer(&id, since, LeaveReason::Disconnected, at),
        None
    );
    assert_eq!(reg.peer_count(), 2);
    // And the stale connection cannot remove the resumed peer.
    assert_eq!(reg.connection_lost(&a.peer_id, 1, at), None);
    assert_eq!(reg.leave(&a.peer_id, Some(1), LeaveReason::Left, at), None);
    assert_eq!(reg.peer_count(), 2);
}

#[test]
fn a_dropped_peer_that_does_not_return_has_left() {
    let t = Instant::now();
    let mut reg = Registry::new(rules(), key());
    let (code, _) = reg.create_room(t).unwrap();
    let a = reg.join(&code, "a", None, outbox().0, 1).unwrap();
    let (tx_b, mut rx_b) = outbox();
    reg.join(&code, "b", None, tx_b, 2).unwrap();
    let Some(Timer::Peer { id, since, at }) = reg.connection_lost(&a.peer_id, 1, t) else {
        panic!()
    };
    assert_eq!(at, t + Duration::from_secs(20));
    assert_eq!(
        next(&mut rx_b),
        ServerMessage::PeerAway {
            peer_id: a.peer_id.clone()
        }
    );
    assert_eq!(
        reg.expire_peer(&id, since, LeaveReason::Disconnected, at),
        None
    );
    assert_eq!(
        next(&mut rx_b),
        ServerMessage::PeerLeft {
            peer_id: a.peer_id,
            reason: LeaveReason::Disconnected
        }
    );
}

#[test]
fn an_empty_room_lives_for_its_grace_then_ends() {
    let t = Instant::now();
    let mut reg = Registry::new(rules(), key());
    let (code, _) = reg.create_room(t).unwrap();
    let a = reg.join(&code, "a", None, outbox().0, 1).unwrap();
    let Some(Timer::Room { at, .. }) = reg.leave(
        &a.peer_id,
        Some(1),
        LeaveReason::Left,
        t + Duration::from_secs(10),
    ) else {
        panic!("an empty room schedules its end")
    };
    assert!(!reg.expire_room(&code, at - Duration::from_secs(1)));
    // Someone comes back within the grace: the room goes on.
    let b = reg.join(&code, "b", None, outbox().0, 2).unwrap();
    assert!(!reg.expire_room(&code, at));
    let Some(Timer::Room { at, .. }) = reg.leave(&b.peer_id, Some(2), LeaveReason::Left, at) else {
        panic!()
    };
    assert!(reg.expire_room(&code, at));
    assert!(!reg.has_room(&code));
    assert_eq!(
        reg.join(&code, "c", None, outbox().0, 3).unwrap_err(),
        ErrorCode::RoomNotFound
    );
}

#[test]
fn a_peer_that_stops_reading_is_cut_off_not_waited_for() {
    let t = Instant::now();
    let mut reg = Registry::new(rules(), key());
    let (code, _) = reg.create_room(t).unwrap();
    let (tx_a, mut rx_a) = mpsc::channel(1);
    let a = reg.join(&code, "a", None, tx_a, 1).unwrap();
    let b = reg.join(&code, "b", None, outbox().0, 2).unwrap(); // fills a's outbox
    let offer = Signal::Offer { sdp: "x".into() };
    reg.relay(&b.peer_id, &a.peer_id, offer.clone()).unwrap();
    // a's outbox is gone: its connection task reads what was queued, then sees the end.
    assert!(matches!(next(&mut rx_a), ServerMessage::PeerJoined { .. }));
    assert_eq!(
        rx_a.try_recv(),
        Err(mpsc::error::TryRecvError::Disconnected)
    );
    // Its place waits for a resume, with the message it missed.
    reg.connection_lost(&a.peer_id, 1, t).expect("place kept");
    let (tx, mut rx) = outbox();
    reg.join(&code, "a", Some(&a.resume_token), tx, 3).unwrap();
    assert_eq!(
        next(&mut rx),
        ServerMessage::Signal {
            from: b.peer_id,
            signal: offer
        }
    );
}

#[test]
fn after_a_restart_former_members_re_create_the_room_with_their_ids() {
    let t = Instant::now();
    let key = key();
    let mut before = Registry::new(rules(), key.clone());
    let (code, _) = before.create_room(t).unwrap();
    let a = before.join(&code, "a", None, outbox().0, 1).unwrap();
    let b = before.join(&code, "b", None, outbox().0, 2).unwrap();
    drop(before);

    // The server restarts with the same key and no rooms.
    let mut after = Registry::new(rules(), key);
    // Someone who only knows the code cannot take it.
    assert_eq!(
        after.join(&code, "eve", None, outbox().0, 3).unwrap_err(),
        ErrorCode::RoomNotFound
    );
    let forged = format!("{}.{}", a.peer_id, "0".repeat(32));
    assert_eq!(
        after
            .join(&code, "eve", Some(&forged), outbox().0, 3)
            .unwrap_err(),
        ErrorCode::RoomNotFound
    );
    // A former member re-creates it and keeps its id.
    let (tx_a, mut rx_a) = outbox();
    let a2 = after
        .join(&code, "a", Some(&a.resume_token), tx_a, 4)
        .unwrap();
    assert!(a2.resumed);
    assert_eq!(a2.peer_id, a.peer_id);
    assert!(a2.peers.is_empty());
    // The next one finds it there, and the first hears it come back.
    let b2 = after
        .join(&code, "b", Some(&b.resume_token), outbox().0, 5)
        .unwrap();
    assert!(b2.resumed);
    assert_eq!(b2.peer_id, b.peer_id);
    assert_eq!(b2.peers.len(), 1);
    assert!(matches!(next(&mut rx_a), ServerMessage::PeerJoined { peer } if peer.id == b.peer_id));
    // A token does not re-create a room in someone else's name, or twice.
    assert_eq!(after.peer_count(), 2);
}

#[test]
fn a_token_of_a_peer_that_left_on_this_run_joins_afresh() {
    let t = Instant::now();
    let mut reg = Registry::new(rules(), key());
    let (code, _) = reg.create_room(t).unwrap();
    let a = reg.join(&code, "a", None, outbox().0, 1).unwrap();
    let _b = reg.join(&code, "b", None, outbox().0, 2).unwrap();
    reg.leave(&a.peer_id, Some(1), LeaveReason::Left, t);
    let again = reg
        .join(&code, "a", Some(&a.resume_token), outbox().0, 3)
        .unwrap();
    assert!(!again.resumed);
    assert_ne!(again.peer_id, a.peer_id);
}
