//! A peer whose network changes mid-call: its address goes and another comes, as when a
//! laptop moves from Wi-Fi to Ethernet. The call restarts ICE (and its server connection)
//! and goes on.

use std::time::Duration;

use tincan_e2e::about;
use tincan_e2e::resilience::{address_moves, Ended};

use super::{n, one_call_at_a_time};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_whose_address_changes_mid_call_is_seen_and_heard_again_within_3_s() {
    let _one = one_call_at_a_time().await;
    let Ended { a, b, a_id, b_id } = address_moves(16, Duration::from_secs(3)).await;
    for (me, me_id, other_id) in [(&a, &a_id, &b_id), (&b, &b_id, &a_id)] {
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
    // b restarted ICE toward a: its network changed.
    let b_about_a = about(&b, &a_id);
    assert!(
        n(b_about_a, "ice_restarts") >= 1.0,
        "b never restarted ICE: {b_about_a:#}"
    );
}
