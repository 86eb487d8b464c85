//! A call across two servers that share rooms through Redis, with one of them dying and
//! Redis going away and coming back in the middle.

use std::time::Duration;

use tincan_e2e::{about, Balancer, CliPeer, Place, RedisProcess, ServerProcess};
use tokio::process::Command;

use super::{assert_tone, assert_video, temp_dir, ONE_CALL_AT_A_TIME};

#[tokio::test]
async fn a_call_across_two_servers_survives_one_dying_and_redis_restarting() {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let mut redis = RedisProcess::start().await;
    let url = redis.url();
    let flags = ["--redis", url.as_str()];
    let s1 = ServerProcess::start(&flags).await;
    let s2 = ServerProcess::start(&flags).await;
    for server in [&s1, &s2] {
        server.health_becomes(200, Duration::from_secs(10)).await;
    }
    // Bo reaches the servers through a load balancer that sends it to server 2 while server
    // 2 takes connections, and to server 1 after.
    let balancer = Balancer::start(vec![s2.addr, s1.addr]).await;
    let through_balancer = balancer.addr.to_string();
    let dir = temp_dir("scale-out");

    let a = CliPeer::start(&s1, &dir, "Ada", None, &["--duration", "32"]).await;
    let (room, a_id) = (a.room.clone(), a.id.clone());
    let b = CliPeer::start_with_server(
        Some(&through_balancer),
        &Place::default(),
        &dir,
        "Bo",
        Some(&room),
        &["--duration", "31", "--audio", "tone:660"],
    )
    .await;
    let b_id = b.id.clone();
    assert!(
        a.printed(&format!("connected {b_id}"), Duration::from_secs(10))
            .await,
        "Ada (server 1) and Bo (server 2) never connected"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Server 2 dies: Bo's client comes back through the balancer to server 1, in its place.
    s2.stop().await;
    assert!(
        b.printed("server back", Duration::from_secs(15)).await,
        "Bo never got back to a server"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Redis goes away: the call goes on; a newcomer is told to try again.
    redis.stop().await;
    s1.health_becomes(503, Duration::from_secs(10)).await;
    let refused = Command::new(tincan_e2e::binary("tincan-cli"))
        .args(["call", "--server", &s1.addr.to_string(), "--room", &room])
        .args(["--name", "Di", "--duration", "2"])
        .output()
        .await
        .expect("tincan-cli runs");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{said}");
    assert!(said.contains("room store"), "{said}");
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Redis is back (empty): a third person joins on server 1, and both call them.
    redis.start_again().await;
    s1.health_becomes(200, Duration::from_secs(10)).await;
    let c = CliPeer::start(
        &s1,
        &dir,
        "Cy",
        Some(&room),
        &["--duration", "12", "--audio", "tone:550"],
    )
    .await;
    let c_id = c.id.clone();
    let c = c.finish().await;
    // Bo's server died, Redis restarted, and still neither Ada nor Bo was told the other left.
    assert!(!a.printed(&format!("left {b_id}"), Duration::ZERO).await);
    assert!(!b.printed(&format!("left {a_id}"), Duration::ZERO).await);
    let (b, a) = (b.finish().await, a.finish().await);

    for (sender, receiver, sender_id, receiver_id) in [
        (&a, &b, &a_id, &b_id),
        (&b, &a, &b_id, &a_id),
        (&a, &c, &a_id, &c_id),
        (&c, &a, &c_id, &a_id),
        (&b, &c, &b_id, &c_id),
        (&c, &b, &c_id, &b_id),
    ] {
        let sent = about(sender, receiver_id)["video_frames_sent"].clone();
        let decoded = about(receiver, sender_id)["video_frames_decoded"].clone();
        println!("{sender_id} → {receiver_id}: {decoded} of {sent} frames decoded");
        assert_video(sender, receiver, sender_id, receiver_id);
    }
    assert_tone(&b, &a_id, 440.0);
    assert_tone(&a, &b_id, 660.0);
    assert_tone(&c, &b_id, 660.0);
    assert_tone(&a, &c_id, 550.0);
}
