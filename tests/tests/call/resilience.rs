//! Calls that outlive what breaks around them: the signaling server dying and coming back,
//! and a peer that crashes.

use std::time::Duration;

use tincan_e2e::about;
use tincan_e2e::resilience::{peer_crashes, server_restarts, Crash, Ended, Restart};

use super::{n, ONE_CALL_AT_A_TIME};

#[tokio::test]
async fn a_call_goes_on_while_the_server_restarts_and_the_room_comes_back() {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    // Killed 2 s into the call, back 5 s later with empty memory on the same port and key.
    let Restart {
        call: Ended { a, b, a_id, b_id },
        back_after,
        c_id,
        c,
    } = server_restarts(24, Duration::from_secs(2), Duration::from_secs(5), 6).await;
    eprintln!("both peers were back in the room {back_after:?} after the server");
    for (me, me_id, other) in [(&a, &a_id, &b_id), (&b, &b_id, &a_id)] {
        let them = about(me, other);
        let gap = n(them, "max_frame_gap_ms");
        assert!(
            gap <= 500.0,
            "{me_id}: video from {other} stopped for {gap} ms during the outage"
        );
        let decoded = n(them, "video_frames_decoded");
        assert!(
            decoded > 400.0,
            "{me_id} decoded only {decoded} frames from {other}"
        );
        // The room works again: the newcomer was called by both.
        let from_c = n(about(me, &c_id), "video_frames_decoded");
        assert!(
            from_c > 60.0,
            "{me_id} decoded only {from_c} frames from {c_id}"
        );
        let to_c = n(about(&c, me_id), "video_frames_decoded");
        assert!(
            to_c > 60.0,
            "{c_id} decoded only {to_c} frames from {me_id}"
        );
    }
}

#[tokio::test]
async fn a_crashed_peer_is_gone_within_5_s_and_the_next_one_is_called() {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let Crash {
        noticed_after,
        a,
        a_id,
        c,
        c_id,
    } = peer_crashes(15, Duration::from_secs(2), 5).await;
    eprintln!("a crashed peer was noticed after {noticed_after:?}");
    assert!(
        noticed_after <= Duration::from_secs(5),
        "the crash took {noticed_after:?} to notice"
    );
    let decoded = n(about(&a, &c_id), "video_frames_decoded");
    assert!(decoded > 60.0, "Ada decoded only {decoded} frames from Cy");
    let decoded = n(about(&c, &a_id), "video_frames_decoded");
    assert!(decoded > 60.0, "Cy decoded only {decoded} frames from Ada");
}
