//! Calls over a constrained link: one peer in a network namespace behind a veth pair whose
//! other end sends through a token bucket (see `tincan_e2e::Netns`), and over a long lossy path
//! ([`long_path`]), through a TURN relay ([`relay`], coturn), and with a peer whose address
//! changes mid-call ([`moves`]), and on a LAN with no server set up ([`lan`]). Needs root and
//! iproute2.

use serde_json::Value;
use tincan_e2e::netns::UPLINK_BURST_BYTES;
use tincan_e2e::resilience::{across, Ended};
use tincan_e2e::{about, CliPeer, Netns, Place, ServerProcess};

#[path = "network/lan.rs"]
mod lan;
#[path = "network/long_path.rs"]
mod long_path;
#[path = "network/moves.rs"]
mod moves;
#[path = "network/relay.rs"]
mod relay;

/// The calls of this binary take a core or more each: run one at a time, so none is starved
/// into failing by another.
async fn one_call_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static ONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    ONE.lock().await
}

fn n(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing in {v:#}"))
}

fn size(v: &Value, key: &str) -> (u64, u64) {
    let pair = v[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} missing in {v:#}"));
    (pair[0].as_u64().unwrap(), pair[1].as_u64().unwrap())
}

/// Starts a call between `a` on this host and `b` behind `link`; returns both summaries and
/// both ids once they have ended.
async fn call_across(
    link: &Netns,
    a_flags: &[&str],
    b_flags: &[&str],
) -> (Value, Value, String, String) {
    let Ended { a, b, a_id, b_id } = across(link, &[], a_flags, b_flags).await;
    (a, b, a_id, b_id)
}

/// 3 % of what reaches `b` is lost on the way: NACK and RTX bring nearly all of it back, so `b`
/// decodes at least 95 % of the frames with few keyframes asked for, and Opus FEC (switched on
/// by the loss `b` reports) keeps the tone whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retransmissions_repair_a_lossy_link() {
    let _one = one_call_at_a_time().await;
    let link = Netns::with_loss(30);
    let (a, b, a_id, b_id) = call_across(&link, &["--duration", "13"], &["--duration", "12"]).await;
    let (a_to_b, b_from_a) = (about(&a, &b_id), about(&b, &a_id));
    eprintln!("a → b with 3 % loss: {a_to_b:#}\nb from a: {b_from_a:#}");
    let sent = n(a_to_b, "video_frames_sent");
    let decoded = n(b_from_a, "video_frames_decoded");
    assert!(decoded >= 0.95 * sent, "b decoded {decoded} of {sent}");
    let asked = n(b_from_a, "keyframes_requested");
    assert!(
        asked <= 5.0,
        "b asked for {asked} keyframes: retransmission should repair most loss"
    );
    assert_eq!(n(b_from_a, "stamps_out_of_order"), 0.0);
    // A concealed frame or two inside the analysed second moves the peak a little.
    let hz = n(b_from_a, "audio_hz");
    assert!((hz - 440.0).abs() < 5.0, "b heard {hz} Hz");
    let concealed = n(b_from_a, "audio_frames_concealed");
    let heard = n(b_from_a, "audio_frames_received");
    assert!(
        concealed < 0.05 * heard,
        "{concealed} of {heard} audio frames concealed"
    );
}

/// A 720p call at 1.5 Mbps over a 600 kbit/s uplink: the sender's bandwidth estimate finds
/// the link, its encoder drops under it and to a smaller picture, and the receiver keeps
/// getting video at that size without the link's queue growing; the other direction, which
/// is not limited, stays at full size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_uplink_brings_the_senders_bitrate_and_picture_down() {
    let _one = one_call_at_a_time().await;
    const LINK_KBIT: f64 = 600.0;
    let link = Netns::with_uplink(LINK_KBIT as u32);
    let call = ["--size", "1280x720", "--bitrate", "1500"];
    let (a_summary, b_summary, a_id, b_id) = call_across(
        &link,
        &[&call[..], &["--duration", "25"]].concat(),
        &[&call[..], &["--duration", "24"]].concat(),
    )
    .await;
    let (a_to_b, b_from_a) = (about(&a_summary, &b_id), about(&b_summary, &a_id));
    let b_to_a = about(&b_summary, &a_id);
    eprintln!("a → b over {LINK_KBIT} kbit/s: {a_to_b:#}\nb from a: {b_from_a:#}");

    // The estimate saws: it grows 8 %/s until the link's queue shows in the one-way delay,
    // then drops to 0.85 × what got through, so at any moment it is between about 0.85 and
    // 1.4 times the link — and far from the 1.5 Mbit/s asked for.
    let estimate = n(a_to_b, "available_send_kbps");
    assert!(
        (100.0..=1.5 * LINK_KBIT).contains(&estimate),
        "a's estimate is {estimate} kbit/s for a {LINK_KBIT} kbit/s link"
    );
    // kbps_out is one second's sample: that second may carry the link's rate plus the token
    // bucket's burst (a CI run caught 600.8 over 600). Staying far under the 1.5 Mbit/s asked
    // for is the point; that the link's queue does not pile up is the latency check below.
    let burst_kbit = f64::from(UPLINK_BURST_BYTES) * 8.0 / 1000.0;
    let sending = n(a_to_b, "kbps_out");
    assert!(
        sending < LINK_KBIT + burst_kbit,
        "a still sends {sending} kbit/s into a {LINK_KBIT} kbit/s link"
    );
    let sent = size(a_to_b, "sent_size");
    assert!(
        sent.0 < 1280,
        "a still sends {sent:?}: the picture should have shrunk"
    );

    // b keeps getting video, at the size a sends now, without the link's queue piling up.
    assert_eq!(size(b_from_a, "received_size"), sent);
    let fps = n(b_from_a, "fps_received");
    assert!(fps >= 10.0, "b decodes only {fps} frames/s from a");
    let latency = n(b_from_a, "latency_p50_ms");
    assert!(
        latency < 250.0,
        "a's frames reach b after {latency} ms (p50)"
    );

    // b → a is not limited: full size, full rate.
    assert_eq!(size(b_to_a, "sent_size"), (1280, 720));
}

/// A machine with no default route (a LAN with no internet) calls all the same: both peers sit
/// in a namespace that has none, where the mDNS socket cannot be opened (ENODEV), which used
/// to fail every peer connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_peers_with_no_default_route_call_each_other() {
    let _one = one_call_at_a_time().await;
    let link = Netns::plain();
    let server = ServerProcess::start_on(&format!("{}:0", link.host_ip), &[]).await;
    let dir = std::env::temp_dir().join(format!("tincan-no-route-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bind = format!("{}:0", link.ns_ip);
    let place = Place {
        bind: Some(&bind),
        netns: Some(&link),
        env: &[],
    };
    let a = CliPeer::start_at(&server, &place, &dir, "a", None, &["--duration", "6"]).await;
    let b = CliPeer::start_at(
        &server,
        &place,
        &dir,
        "b",
        Some(&a.room),
        &["--duration", "5"],
    )
    .await;
    let (a_id, b_id) = (a.id.clone(), b.id.clone());
    // `finish` also checks both exited 0: a call that did not happen exits 4.
    let (a, b) = tokio::join!(a.finish(), b.finish());
    server.stop().await;
    for (me, other, summary) in [(&a_id, &b_id, &a), (&b_id, &a_id, &b)] {
        let decoded = n(about(summary, other), "video_frames_decoded");
        assert!(
            decoded > 60.0,
            "{me} decoded only {decoded} frames from {other}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}
