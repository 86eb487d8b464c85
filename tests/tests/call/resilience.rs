//! Calls that outlive what breaks around them: the signaling server dying and coming back,
//! and a peer that crashes.

use std::time::{Duration, Instant};

use tincan_e2e::{about, CliPeer, ServerProcess};

use super::{n, temp_dir, ONE_CALL_AT_A_TIME};

#[tokio::test]
async fn a_call_goes_on_while_the_server_restarts_and_the_room_comes_back() {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let server = ServerProcess::start(&[]).await;
    let addr = server.addr.to_string();
    let dir = temp_dir("server-restart");
    let a = CliPeer::start(&server, &dir, "Ada", None, &["--duration", "24"]).await;
    let (room, a_id) = (a.room.clone(), a.id.clone());
    let b = CliPeer::start(&server, &dir, "Bo", Some(&room), &["--duration", "24"]).await;
    let b_id = b.id.clone();
    assert!(
        a.printed(&format!("connected {b_id}"), Duration::from_secs(10))
            .await,
        "Ada and Bo connect"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;

    // The server dies (SIGKILL: no goodbyes) and comes back 5 s later, with empty memory, on
    // the same port and with the same room key.
    server.stop().await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let server = ServerProcess::start_on(&addr, &[]).await;
    for peer in [&a, &b] {
        assert!(
            peer.printed("server back", Duration::from_secs(15)).await,
            "{} is back in the room within 15 s of the restart",
            peer.id
        );
    }
    // The room works again: someone new joins it and is called by both.
    let c = CliPeer::start(&server, &dir, "Cy", Some(&room), &["--duration", "6"]).await;
    let c_id = c.id.clone();
    let c = c.finish().await;
    let (a, b) = (a.finish().await, b.finish().await);

    for (me, me_id, other, other_id) in [(&a, &a_id, &b_id, "Bo"), (&b, &b_id, &a_id, "Ada")] {
        let them = about(me, other);
        let gap = n(them, "max_frame_gap_ms");
        assert!(
            gap <= 500.0,
            "{me_id}: video from {other_id} stopped for {gap} ms during the outage"
        );
        let decoded = n(them, "video_frames_decoded");
        assert!(
            decoded > 400.0,
            "{me_id} decoded only {decoded} frames from {other_id}"
        );
        let from_c = n(about(me, &c_id), "video_frames_decoded");
        assert!(
            from_c > 60.0,
            "{me_id} decoded only {from_c} frames from Cy"
        );
    }
    for (id, name) in [(&a_id, "Ada"), (&b_id, "Bo")] {
        let decoded = n(about(&c, id), "video_frames_decoded");
        assert!(
            decoded > 60.0,
            "Cy decoded only {decoded} frames from {name}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_crashed_peer_is_gone_within_5_s_and_the_next_one_is_called() {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let server = ServerProcess::start(&[]).await;
    let dir = temp_dir("crash");
    let a = CliPeer::start(&server, &dir, "Ada", None, &["--duration", "15"]).await;
    let (room, a_id) = (a.room.clone(), a.id.clone());
    let mut b = CliPeer::start(&server, &dir, "Bo", Some(&room), &["--duration", "30"]).await;
    let b_id = b.id.clone();
    assert!(
        a.printed(&format!("connected {b_id}"), Duration::from_secs(10))
            .await,
        "Ada and Bo connect"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;

    b.kill();
    let killed = Instant::now();
    assert!(
        a.printed(&format!("left {b_id}"), Duration::from_secs(10))
            .await,
        "Ada never saw Bo go"
    );
    let noticed = killed.elapsed();
    assert!(
        noticed <= Duration::from_secs(5),
        "Bo's crash took {noticed:?} to notice"
    );
    eprintln!("a crashed peer was noticed after {noticed:?}");

    let c = CliPeer::start(&server, &dir, "Cy", Some(&room), &["--duration", "5"]).await;
    let c_id = c.id.clone();
    let c = c.finish().await;
    let a = a.finish().await;
    let decoded = n(about(&a, &c_id), "video_frames_decoded");
    assert!(decoded > 60.0, "Ada decoded only {decoded} frames from Cy");
    let decoded = n(about(&c, &a_id), "video_frames_decoded");
    assert!(decoded > 60.0, "Cy decoded only {decoded} frames from Ada");
    std::fs::remove_dir_all(&dir).ok();
}
