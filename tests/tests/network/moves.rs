//! A peer whose network changes mid-call: its address goes and another comes, as when a
//! laptop moves from Wi-Fi to Ethernet. The call restarts ICE (and its server connection)
//! and goes on.

use std::time::Duration;

use tincan_e2e::{about, CliPeer, Netns, Place, ServerProcess};

use super::{n, one_call_at_a_time};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_whose_address_changes_mid_call_is_seen_and_heard_again_within_3_s() {
    let _one = one_call_at_a_time().await;
    let link = Netns::plain();
    let server = ServerProcess::start_on(&format!("{}:0", link.host_ip), &[]).await;
    let dir = std::env::temp_dir().join(format!("tincan-moves-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let host_bind = format!("{}:0", link.host_ip);
    let a = CliPeer::start_at(
        &server,
        &Place {
            bind: Some(&host_bind),
            netns: None,
        },
        &dir,
        "a",
        None,
        &["--duration", "16"],
    )
    .await;
    // b binds every address it has, as the app does, so a new one can be used.
    let b = CliPeer::start_at(
        &server,
        &Place {
            bind: Some("0.0.0.0:0"),
            netns: Some(&link),
        },
        &dir,
        "b",
        Some(&a.room),
        &["--duration", "16"],
    )
    .await;
    let (a_id, b_id) = (a.id.clone(), b.id.clone());
    assert!(
        a.printed(&format!("connected {b_id}"), Duration::from_secs(10))
            .await,
        "a and b connect"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let moved_to = link.move_address();
    eprintln!("b's address moved to {moved_to}");

    let (a_summary, b_summary) = tokio::join!(a.finish(), b.finish());
    server.stop().await;
    for (me, me_id, other_id) in [(&a_summary, &a_id, &b_id), (&b_summary, &b_id, &a_id)] {
        let them = about(me, other_id);
        let gap = n(them, "max_frame_gap_ms");
        eprintln!("{me_id}: longest video gap from {other_id}: {gap} ms");
        assert!(
            gap <= 3000.0,
            "{me_id}: video from {other_id} stopped for {gap} ms after the move"
        );
        let fps = n(them, "fps_last_10s");
        assert!(
            fps > 20.0,
            "{me_id}: only {fps} fps from {other_id} after the move"
        );
        let hz = n(them, "audio_hz");
        assert!(
            (hz - 440.0).abs() < 30.0 || (hz - 660.0).abs() < 30.0,
            "{me_id}: the tone from {other_id} is not back ({hz} Hz)"
        );
    }
    // b restarted ICE toward a (its network changed); the path now uses b's new address.
    let b_about_a = about(&b_summary, &a_id);
    assert!(
        n(b_about_a, "ice_restarts") >= 1.0,
        "b never restarted ICE: {b_about_a:#}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
