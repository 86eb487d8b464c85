//! Calls through a real TURN relay (Debian's coturn): two peers that hide their addresses
//! (`--relay-only`) reach each other only through it, two that do not are left only it by
//! nftables, and a peer that asks to hide its addresses from a server without TURN is told
//! why it cannot.

use tincan_e2e::resilience::{across, across_a_link, Ended};
use tincan_e2e::turn::{Coturn, SECRET};
use tincan_e2e::{about, Netns, ServerProcess};
use tokio::process::Command;

use super::{n, one_call_at_a_time};

/// Two peers that hide their addresses call through coturn: video and audio arrive, and both
/// ends' selected candidate pairs are relay to relay (no host or reflexive candidate was sent,
/// so no direct path could even be tried). The server's TURN credentials last 8 s here: before
/// they expire each peer asks for fresh ones and moves its relayed path onto them (an ICE
/// restart), and the call goes on (docs/calls.md, "When things break").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_peers_that_hide_their_addresses_call_through_a_turn_relay() {
    let _one = one_call_at_a_time().await;
    let Ended { a, b, a_id, b_id } = across_a_link(
        12,
        true,
        &["--turn-ttl", "8s"],
        &["--chat", "through the relay"],
    )
    .await;
    let (a_summary, b_summary) = (a, b);
    let ends = [
        ("a", &a_id, &b_id, &a_summary, &b_summary),
        ("b", &b_id, &a_id, &b_summary, &a_summary),
    ];
    for (me, my_id, other, summary, theirs) in ends {
        let s = about(summary, other);
        eprintln!("{me} about {other}: {s:#}");
        assert_eq!(s["local_candidate"], "relay", "{me}: {s:#}");
        assert_eq!(s["remote_candidate"], "relay", "{me}: {s:#}");
        // Every candidate that reached this end was a relay's.
        assert_eq!(
            s["remote_candidate_types"],
            serde_json::json!(["relay"]),
            "{me}"
        );
        // The renewal's restart: webrtc-rs leaves the old pair at once, so video stops until
        // the new relayed pair carries it (~1.2 s here); bounded, and counted below.
        let gap_ms = n(s, "max_frame_gap_ms");
        eprintln!(
            "{me}: {} renewals, {} ICE restarts, longest gap between frames {gap_ms} ms",
            summary["ice_renewals"], s["ice_restarts"]
        );
        assert!(
            n(summary, "ice_renewals") >= 1.0,
            "{me} renewed its TURN credentials: {summary:#}"
        );
        assert!(gap_ms < 3000.0, "{me}: video stopped for {gap_ms} ms");
        let decoded = n(s, "video_frames_decoded");
        let sent = n(about(theirs, my_id), "video_frames_sent");
        // The peers end a second apart: what the longer one sent after the other stopped
        // counting (up to half a second of frames) is not a loss; nor is what the sender sent
        // into the restart's gap, nor what still waited in the playout buffer at the end (its
        // delay grows for a few seconds after the restart's gap: 12 → 405 ms in one run,
        // frames sent and not yet due).
        let in_the_gap = gap_ms / 1000.0 * 30.0;
        let waiting_ms = s["series"]
            .as_array()
            .and_then(|series| series.last())
            .and_then(|last| last["video_delay_ms"].as_f64())
            .unwrap_or(0.0);
        let in_the_buffer = waiting_ms / 1000.0 * 30.0;
        eprintln!(
            "{me}: decoded {decoded} of {sent} sent; {in_the_gap:.0} frames in the gap, \
             {in_the_buffer:.0} still in the playout buffer"
        );
        assert!(
            decoded > 150.0 && decoded >= 0.95 * sent - 15.0 - in_the_gap - in_the_buffer,
            "{me} decoded {decoded} of {sent} frames through the relay"
        );
        assert!(n(s, "audio_frames_received") > 200.0, "{me}: {s:#}");
    }
    assert_eq!(
        about(&a_summary, &b_id)["chat"],
        serde_json::json!(["through the relay"])
    );
}

/// Hiding one's addresses needs a relay: against a server that hands out none, the call does
/// not start, the reason is said, and the exit code is 4 (the call failed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hiding_addresses_without_a_relay_is_refused_with_the_reason() {
    let server = ServerProcess::start(&[]).await;
    let out = Command::new(tincan_e2e::binary("tincan-cli"))
        .args([
            "call",
            "--server",
            &server.addr.to_string(),
            "--create",
            "--relay-only",
        ])
        .args(["--bind", "127.0.0.1:0", "--duration", "3"])
        .output()
        .await
        .expect("tincan-cli runs");
    server.stop().await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("needs a TURN relay"), "{stderr}");
}

/// Two native peers that do not hide their addresses, with every UDP path between them
/// blocked but the TURN server's port (nftables): ICE finds that only the relay works, and the
/// call goes through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_direct_paths_blocked_two_peers_call_through_a_turn_relay() {
    let _one = one_call_at_a_time().await;
    let link = Netns::plain();
    let turn = Coturn::start(&link.host_ip).await;
    link.block_udp_except(turn.port);
    let turn_url = turn.url(&link.host_ip);
    let Ended { a, b, a_id, b_id } = across(
        &link,
        &["--turn", &turn_url, "--turn-secret", SECRET],
        &["--duration", "10"],
        &["--duration", "9"],
    )
    .await;
    drop(turn);
    for (me, my_id, other, summary, theirs) in
        [("a", &a_id, &b_id, &a, &b), ("b", &b_id, &a_id, &b, &a)]
    {
        let s = about(summary, other);
        eprintln!("{me} about {other}: {s:#}");
        // Host candidates were sent (nothing is hidden), but the pair in use is relayed.
        let pair = [
            s["local_candidate"].as_str(),
            s["remote_candidate"].as_str(),
        ];
        assert!(pair.contains(&Some("relay")), "{me}: {s:#}");
        let sent = n(about(theirs, my_id), "video_frames_sent");
        let decoded = n(s, "video_frames_decoded");
        // The peers end a second apart: what the longer one sent after the other stopped
        // counting (up to half a second of frames) is not a loss.
        assert!(
            decoded > 120.0 && decoded >= 0.95 * sent - 15.0,
            "{me} decoded {decoded} of {sent} frames through the relay"
        );
    }
}
