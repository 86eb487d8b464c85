//! Several `tincan-server` processes sharing rooms through a real `redis-server`: one room
//! across two servers, in order; a server that dies; Redis that goes away and comes back.

use std::time::Duration;

use serde_json::json;
use tincan_e2e::{RawClient, RedisProcess, ServerProcess};
use tincan_protocol::{ErrorCode, PeerId, ServerMessage, Signal};

use super::{expect_signal, peer_id};

/// Redis and two servers on it that take joins (with a short reconnect grace, so a test
/// sees it run out).
async fn two_servers() -> (RedisProcess, ServerProcess, ServerProcess) {
    two_servers_with(&["--reconnect-grace", "8s"]).await
}

async fn two_servers_with(extra: &[&str]) -> (RedisProcess, ServerProcess, ServerProcess) {
    let redis = RedisProcess::start().await;
    let url = redis.url();
    let flags = [&["--redis", url.as_str()], extra].concat();
    let (s1, s2) = (
        ServerProcess::start(&flags).await,
        ServerProcess::start(&flags).await,
    );
    for server in [&s1, &s2] {
        server.health_becomes(200, Duration::from_secs(5)).await;
    }
    (redis, s1, s2)
}

/// Ada creates a room on `s1` and joins it: her client, the code, her id and resume token.
async fn ada_on(s1: &ServerProcess) -> (RawClient, String, PeerId, String) {
    let mut a = RawClient::greeted(&s1.ws_url()).await;
    let code = a.create_room().await;
    let joined = a.join(&code, "Ada").await;
    (a, code, peer_id(&joined), token(&joined))
}

fn offer(n: usize) -> Signal {
    Signal::Offer {
        sdp: format!("seq {n}"),
    }
}

async fn signal(client: &mut RawClient, to: &PeerId, n: usize) {
    client
        .send_json(json!({"type": "signal", "to": to, "signal": {"kind": "offer", "sdp": format!("seq {n}")}}))
        .await;
}

/// Joins with a resume token; the `joined` reply.
async fn resume(url: &str, code: &str, name: &str, token: &str) -> (RawClient, ServerMessage) {
    let mut client = RawClient::greeted(url).await;
    client
        .send_json(json!({"type": "join", "room": code, "name": name, "resume": token}))
        .await;
    let joined = client.recv().await;
    (client, joined)
}

fn token(joined: &ServerMessage) -> String {
    match joined {
        ServerMessage::Joined { resume_token, .. } => resume_token.clone(),
        other => panic!("expected joined, got {other:?}"),
    }
}

/// Nothing but what `allowed` accepts arrives within `wait`.
async fn quiet(client: &mut RawClient, wait: Duration, allowed: impl Fn(&ServerMessage) -> bool) {
    let until = tokio::time::Instant::now() + wait;
    while let Some(message) = client
        .try_recv(until.saturating_duration_since(tokio::time::Instant::now()))
        .await
    {
        assert!(allowed(&message), "unexpected {message:?}");
    }
}

#[tokio::test]
async fn one_room_across_two_servers_relays_everything_in_order() {
    let (_redis, s1, s2) = two_servers().await;
    let (mut a, code, a_id, a_token) = ada_on(&s1).await;
    // Bo on the other server sees Ada in the room it joins by her code.
    let mut b = RawClient::greeted(&s2.ws_url()).await;
    let b_joined = b.join(&code, "Bo").await;
    let b_id = peer_id(&b_joined);
    match &b_joined {
        ServerMessage::Joined { peers, .. } => {
            assert_eq!(peers.len(), 1);
            assert_eq!((&peers[0].id, peers[0].name.as_str()), (&a_id, "Ada"));
        }
        _ => unreachable!(),
    }
    assert!(matches!(a.recv().await, ServerMessage::PeerJoined { peer } if peer.id == b_id));

    // Both ways at once, as fast as the rate limit lets a client: none lost, none reordered.
    const EACH: usize = 50;
    for n in 0..EACH {
        signal(&mut a, &b_id, n).await;
        signal(&mut b, &a_id, n).await;
    }
    for n in 0..EACH {
        assert_eq!(expect_signal(&mut b, &a_id).await, offer(n), "Bo's {n}th");
        assert_eq!(expect_signal(&mut a, &b_id).await, offer(n), "Ada's {n}th");
    }

    // A third, on server 1: both hear of Cy, and Cy reaches both.
    // Cy's name looks like a field of a member's record in Redis: the relay still finds
    // Cy's server, not one the name made up.
    let mut c = RawClient::greeted(&s1.ws_url()).await;
    let c_joined = c.join(&code, r#"Cy","s":"nowhere"#).await;
    let c_id = peer_id(&c_joined);
    match &c_joined {
        ServerMessage::Joined { peers, .. } => {
            let names: Vec<&str> = peers.iter().map(|p| p.name.as_str()).collect();
            assert_eq!(names, ["Ada", "Bo"], "in the order they joined");
        }
        _ => unreachable!(),
    }
    for other in [&mut a, &mut b] {
        assert!(
            matches!(other.recv().await, ServerMessage::PeerJoined { peer } if peer.id == c_id)
        );
    }
    signal(&mut c, &b_id, 7).await;
    assert_eq!(expect_signal(&mut b, &c_id).await, offer(7));
    signal(&mut b, &c_id, 8).await;
    assert_eq!(expect_signal(&mut c, &b_id).await, offer(8));

    // A signal to someone in no room of ours is refused as on one server.
    b.send_json(json!({"type": "signal", "to": "nobody", "signal": {"kind": "end_of_candidates"}}))
        .await;
    b.expect_error(ErrorCode::PeerNotFound).await;

    // Bo leaves on server 2; server 1's clients are told, with the reason.
    b.send_json(json!({"type": "leave"})).await;
    assert_eq!(b.recv().await, ServerMessage::Left);
    for other in [&mut a, &mut c] {
        assert!(matches!(
            other.recv().await,
            ServerMessage::PeerLeft { peer_id, reason: tincan_protocol::LeaveReason::Left } if peer_id == b_id
        ));
    }
    // Ada takes her place on server 2 while her connection to server 1 is still open: that
    // one ends, the new one gets what is sent to her, and Cy sees no change.
    let (mut a2, joined) = resume(&s2.ws_url(), &code, "Ada", &a_token).await;
    assert!(matches!(
        joined,
        ServerMessage::Joined { resumed: true, .. }
    ));
    assert!(
        a.closed_within(Duration::from_secs(3)).await,
        "the old connection ends"
    );
    signal(&mut c, &a_id, 9).await;
    assert_eq!(expect_signal(&mut a2, &c_id).await, offer(9));
    quiet(&mut c, Duration::from_millis(300), |_| false).await;
    let (_, metrics) = s1.get("/metrics").await;
    assert!(metrics.contains("tincan_redis_up 1"), "{metrics}");
}

#[tokio::test]
async fn a_client_of_a_server_that_died_resumes_on_another_and_nobody_sees_it_leave() {
    let (_redis, s1, s2) = two_servers().await;
    let (mut a, code, a_id, _) = ada_on(&s1).await;
    let mut b = RawClient::greeted(&s2.ws_url()).await;
    let b_joined = b.join(&code, "Bo").await;
    let b_id = peer_id(&b_joined);
    let b_token = token(&b_joined);
    a.recv().await; // peer_joined

    s2.stop().await;
    assert!(b.closed_within(Duration::from_secs(2)).await);
    // Ada signals Bo while Bo has no server: lost with server 2 (Bo's client sends its
    // description again when it is back), and nothing else breaks.
    signal(&mut a, &b_id, 1).await;
    let (mut b2, joined) = resume(&s1.ws_url(), &code, "Bo", &b_token).await;
    match &joined {
        ServerMessage::Joined {
            peer_id,
            resumed,
            peers,
            ..
        } => {
            assert_eq!(peer_id, &b_id, "the same place");
            assert!(resumed);
            assert_eq!(peers.len(), 1);
        }
        other => panic!("expected joined, got {other:?}"),
    }
    signal(&mut a, &b_id, 2).await;
    assert_eq!(expect_signal(&mut b2, &a_id).await, offer(2));
    signal(&mut b2, &a_id, 3).await;
    assert_eq!(expect_signal(&mut a, &b_id).await, offer(3));
    // Past the time server 2 is taken for dead, and past the reconnect grace: Ada never
    // hears that Bo left (nor even that Bo was away: Bo was back before anyone noticed).
    quiet(&mut a, Duration::from_secs(10), |_| false).await;
    signal(&mut b2, &a_id, 4).await;
    assert_eq!(expect_signal(&mut a, &b_id).await, offer(4));
}

#[tokio::test]
async fn while_redis_is_away_joins_are_refused_calls_go_on_and_it_recovers_by_itself() {
    let (mut redis, s1, s2) = two_servers().await;
    let (mut a, code, a_id, _) = ada_on(&s1).await;
    let mut c = RawClient::greeted(&s1.ws_url()).await;
    let c_id = peer_id(&c.join(&code, "Cy").await);
    let mut b = RawClient::greeted(&s2.ws_url()).await;
    let b_id = peer_id(&b.join(&code, "Bo").await);
    for _ in 0..2 {
        assert!(matches!(a.recv().await, ServerMessage::PeerJoined { .. }));
    }
    assert!(matches!(c.recv().await, ServerMessage::PeerJoined { .. }));

    redis.stop().await;
    let why = s1.health_becomes(503, Duration::from_secs(5)).await;
    assert_eq!(why, "redis unreachable\n");
    // A newcomer is told plainly, and can try again.
    let mut d = RawClient::greeted(&s1.ws_url()).await;
    d.send_json(json!({"type": "join", "room": code, "name": "Di"}))
        .await;
    let message = d.expect_error(ErrorCode::Unavailable).await;
    assert!(message.contains("room store"), "{message}");
    // Ada and Cy share server 1: their signals still go through.
    signal(&mut a, &c_id, 1).await;
    assert_eq!(expect_signal(&mut c, &a_id).await, offer(1));
    // Bo is on server 2: Ada is told her signal could not go.
    signal(&mut a, &b_id, 2).await;
    a.expect_error(ErrorCode::Unavailable).await;

    // Redis comes back empty; the servers put their members back, with no restart.
    redis.start_again().await;
    for server in [&s1, &s2] {
        server.health_becomes(200, Duration::from_secs(10)).await;
    }
    let d_joined = d.join(&code, "Di").await;
    let d_id = peer_id(&d_joined);
    match &d_joined {
        ServerMessage::Joined { peers, .. } => {
            let mut ids: Vec<&PeerId> = peers.iter().map(|p| &p.id).collect();
            ids.sort();
            let mut want = vec![&a_id, &b_id, &c_id];
            want.sort();
            assert_eq!(ids, want, "everyone is in the room again");
        }
        _ => unreachable!(),
    }
    // Nobody was told anyone left or went away; only of Di's arrival.
    for other in [&mut a, &mut b, &mut c] {
        assert!(
            matches!(other.recv().await, ServerMessage::PeerJoined { peer } if peer.id == d_id)
        );
    }
    signal(&mut a, &b_id, 3).await;
    assert_eq!(expect_signal(&mut b, &a_id).await, offer(3));
    signal(&mut b, &d_id, 4).await;
    assert_eq!(expect_signal(&mut d, &b_id).await, offer(4));
    for other in [&mut a, &mut b, &mut c] {
        quiet(other, Duration::from_millis(300), |_| false).await;
    }
    let (_, metrics) = s1.get("/metrics").await;
    assert!(
        metrics.contains("tincan_relayed_locally_total 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_client_that_never_comes_back_is_away_then_gone_and_an_empty_room_ends() {
    let (_redis, s1, s2) =
        two_servers_with(&["--reconnect-grace", "3s", "--room-grace", "1s"]).await;
    let (mut a, code, _, _) = ada_on(&s1).await;
    let mut b = RawClient::greeted(&s2.ws_url()).await;
    let b_id = peer_id(&b.join(&code, "Bo").await);
    a.recv().await; // peer_joined
                    // Bo's server dies and Bo never comes back: server 1 takes server 2 for dead (5 s
                    // without a heartbeat), then Bo's grace runs out.
    s2.stop().await;
    let away = a.try_recv(Duration::from_secs(10)).await;
    assert_eq!(
        away,
        Some(ServerMessage::PeerAway {
            peer_id: b_id.clone()
        })
    );
    let left = a.try_recv(Duration::from_secs(6)).await;
    assert_eq!(
        left,
        Some(ServerMessage::PeerLeft {
            peer_id: b_id,
            reason: tincan_protocol::LeaveReason::Disconnected
        })
    );
    // Ada leaves the emptied room: it ends after its grace, for every server.
    a.send_json(json!({"type": "leave"})).await;
    assert_eq!(a.recv().await, ServerMessage::Left);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut c = RawClient::greeted(&s1.ws_url()).await;
    c.send_json(json!({"type": "join", "room": code, "name": "Cy"}))
        .await;
    c.expect_error(ErrorCode::RoomNotFound).await;
}
