//! Calls over a long, lossy path (`tincan_e2e::LongPath`: a user-space forwarder that delays,
//! jitters and drops): a long-distance call of ~100 ms each way with 5 % loss each way, the
//! same at 2 %, a 250 ms path without loss, a receiver that NACKs without limit behind a slow
//! link, one whose first congestion feedback comes late and all at once, and a file sent over
//! a slow lossy link.

use std::path::PathBuf;

use serde_json::Value;
use tincan_e2e::files::{same_bytes, the_transfer, write_noise};
use tincan_e2e::long_path::{call_over, Impairment};
use tincan_e2e::{about, CliPeer, LongPath, Place, PlainPeer, ServerProcess};

use super::{n, one_call_at_a_time, size};

/// What a long-distance call must hold to each way: ≥ 90 % of the frames sent decoded,
/// ≥ 25 fps over the last 10 s, frozen ≤ 1 % of the time, audio concealed ≤ 3 %, and the
/// other's chat message arrived.
fn holds_up(label: &str, sender: &Value, receiver: &Value, seconds: u32) {
    eprintln!("{label}: sent {sender:#}\nreceived {receiver:#}");
    let sent = n(sender, "video_frames_sent");
    let decoded = n(receiver, "video_frames_decoded");
    assert!(
        decoded >= 0.9 * sent,
        "{label}: decoded {decoded} of {sent} frames"
    );
    let fps = n(receiver, "fps_last_10s");
    assert!(fps >= 25.0, "{label}: {fps} fps over the last 10 s");
    let frozen = n(receiver, "freeze_ms");
    assert!(
        frozen <= 0.01 * f64::from(seconds) * 1000.0,
        "{label}: frozen {frozen} ms of {seconds} s ({} freezes)",
        n(receiver, "freezes")
    );
    let concealed = n(receiver, "audio_frames_concealed");
    let heard = n(receiver, "audio_frames_received");
    assert!(
        concealed <= 0.03 * heard,
        "{label}: {concealed} of {heard} audio frames concealed"
    );
    assert_eq!(
        receiver["chat"],
        serde_json::json!(["hello over the long path"]),
        "{label}"
    );
}

/// 30 s: long enough that the share of time frozen means something (one 210 ms freeze is
/// 1 % of 21 s; CI caught one in 20 s).
async fn long_distance_call(delay_ms: u64, loss_percent: f64) {
    let _one = one_call_at_a_time().await;
    const SECONDS: u32 = 30;
    let path = LongPath::new(
        Impairment::delay_loss(delay_ms, loss_percent),
        Impairment::delay_loss(delay_ms, loss_percent),
    );
    let chat = ["--chat", "hello over the long path"];
    let (a, b, a_id, b_id) = call_over(&path, SECONDS, &chat, &chat).await;
    let path_label = format!("{delay_ms} ms each way, {loss_percent} % loss");
    holds_up(
        &format!("a → b, {path_label}"),
        about(&a, &b_id),
        about(&b, &a_id),
        SECONDS,
    );
    holds_up(
        &format!("b → a, {path_label}"),
        about(&b, &a_id),
        about(&a, &b_id),
        SECONDS,
    );
    // The path did what it was asked to.
    let dropped = path
        .outbound
        .dropped
        .load(std::sync::atomic::Ordering::Relaxed) as f64;
    let forwarded = path
        .outbound
        .forwarded
        .load(std::sync::atomic::Ordering::Relaxed) as f64;
    let share = dropped / (dropped + forwarded);
    assert!(
        (share - loss_percent / 100.0).abs() < 0.015,
        "the path dropped {share} of what it carried"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn video_holds_up_at_100_ms_each_way_and_5_percent_loss() {
    long_distance_call(100, 5.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn video_holds_up_at_100_ms_each_way_and_2_percent_loss() {
    long_distance_call(100, 2.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn video_holds_up_at_250_ms_each_way() {
    long_distance_call(250, 0.0).await;
}

/// The far end asks for every missing packet again and again and sends no congestion
/// feedback (webrtc-rs's defaults, without TWCC), behind a 600 kbit/s link with 3 % loss: the
/// sender still has an estimate (from the loss its receiver reports) and its whole output,
/// retransmissions included, stays within 1.3 × that estimate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retransmissions_stay_within_the_estimate_toward_a_receiver_that_asks_without_limit() {
    let _one = one_call_at_a_time().await;
    let mut to_plain = Impairment::delay_loss(50, 3.0);
    to_plain.rate_kbit = Some(600);
    let path = LongPath::new(Impairment::delay_loss(50, 3.0), to_plain);
    let server = ServerProcess::start_on(&format!("{}:0", path.netns.host_ip), &[]).await;
    let plain = PlainPeer::create(
        &server.addr.to_string(),
        &format!("{}:0", path.host_ip),
        false,
    )
    .await;
    let dir = std::env::temp_dir().join(format!("tincan-nack-storm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ns_bind = format!("{}:0", path.ns_ip);
    let sender = CliPeer::start_at(
        &server,
        &Place {
            bind: Some(&ns_bind),
            netns: Some(&path.netns),
            env: &[],
        },
        &dir,
        "sender",
        Some(&plain.room),
        &["--duration", "16", "--bitrate", "800"],
    )
    .await;
    let summary = sender.finish().await;
    let received = plain.finish().await;
    server.stop().await;
    let peers = summary["peers"].as_array().expect("peers");
    let to_plain = &peers[0];
    eprintln!("sender → plain peer: {to_plain:#}");
    let series = to_plain["series"].as_array().expect("a series");
    let mut checked = 0;
    let mut previous: Option<f64> = None;
    // The first reception reports make an estimate within a few seconds (on a loaded machine
    // up to 5); from the second after it on, a second's output (sampled at its end) was
    // produced under that second's estimate and the one before. The second in which the first
    // estimate arrived still went at the starting rate, so it is not held to one.
    for sample in series {
        let estimate = sample["available_send_kbps"].as_f64();
        if previous.is_none() {
            assert!(
                n(sample, "t") < 6.5,
                "no estimate after 6 s without one from transport-wide feedback: {sample:#}"
            );
        }
        if let (Some(estimate), Some(before)) = (estimate, previous) {
            let allowed = 1.3 * estimate.max(before);
            let out = n(sample, "kbps_out");
            assert!(
                out <= allowed,
                "sent {out} kbit/s against an estimate of {estimate} (before: {before})"
            );
            checked += 1;
        }
        previous = estimate.or(previous);
    }
    assert!(checked >= 8, "only {checked} seconds of statistics");
    // The storm was real: the budget turned asks down, and what was resent was a fraction.
    let refused = n(to_plain, "rtx_refused");
    let rtx = n(to_plain, "rtx_packets_sent");
    assert!(refused > 0.0, "the receiver never asked beyond the budget");
    let rtx_bytes = n(to_plain, "rtx_bytes_sent");
    let media_bytes = n(to_plain, "bytes_sent");
    assert!(
        rtx_bytes < 0.35 * media_bytes,
        "{rtx} retransmissions, {rtx_bytes} of {media_bytes} bytes"
    );
    let packets = received
        .rtp_packets
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        packets > 1000,
        "the plain peer received only {packets} packets"
    );
}

/// The far end's first transport-wide feedback comes 1.2 s late and all at once (the forwarder
/// holds it back): on a clean path the sender keeps its full picture and its estimate never
/// falls below 80 % of what the path carries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feedback_that_comes_late_and_at_once_does_not_cut_the_estimate() {
    let _one = one_call_at_a_time().await;
    const SECONDS: u32 = 15;
    let mut back = Impairment::clean();
    back.hold_first_twcc = Some(std::time::Duration::from_millis(1200));
    let path = LongPath::new(Impairment::clean(), back);
    let (a, _b, _a_id, b_id) =
        call_over(&path, SECONDS, &["--bitrate", "800"], &["--bitrate", "800"]).await;
    let held = path
        .inbound
        .twcc_held
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(held > 0, "no transport-wide feedback was held back");
    let a_to_b = about(&a, &b_id);
    eprintln!("a → b with the first feedback {held} packets held: {a_to_b:#}");
    let series = a_to_b["series"].as_array().expect("a series");
    // What the path carried each second is what a sent (the path is not limited): the
    // estimate never falls under half the 800 kbit/s asked; from 3 s (after the first
    // keyframes, whose burst may run ahead of a starting estimate: 675 kbit/s sent against
    // an estimate of 507 in the second second, on one fresh-clone run) never under 80 % of
    // what was carried; and once the encoder has reached its rate (5 s in) never under 80 %
    // of the rate asked. Before the fix the first burst of feedback floored it at 100 kbit/s
    // for ~25 s.
    let mut checked = 0;
    for sample in series {
        let Some(estimate) = sample["available_send_kbps"].as_f64() else {
            continue;
        };
        let carried = n(sample, "kbps_out");
        assert!(
            estimate >= 0.5 * 800.0,
            "the estimate fell to {estimate} kbit/s: {series:?}"
        );
        assert!(
            n(sample, "t") < 3.0 || estimate >= 0.8 * carried,
            "estimate {estimate} while sending {carried}: {series:?}"
        );
        if n(sample, "t") >= 5.0 {
            assert!(
                estimate >= 0.8 * 800.0,
                "the estimate fell to {estimate} kbit/s: {series:?}"
            );
        }
        checked += 1;
    }
    assert!(checked >= 10, "{series:?}");
    for sample in series.iter().filter(|s| !s["sent_size"].is_null()) {
        assert_eq!(size(sample, "sent_size"), (640, 360), "{sample:#}");
    }
}

/// A 3 MB file over a 5 Mbit/s link with 20 ms and 2 % loss each way arrives byte for byte:
/// the data channel's retransmissions make up for what the path drops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_arrives_intact_over_a_5_mbit_link_with_2_percent_loss() {
    let _one = one_call_at_a_time().await;
    let lossy = || {
        let mut way = Impairment::delay_loss(20, 2.0);
        way.rate_kbit = Some(5000);
        way
    };
    let path = LongPath::new(lossy(), lossy());
    let dir = std::env::temp_dir().join(format!("tincan-lossy-file-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (source, into) = (dir.join("slides.bin"), dir.join("downloads"));
    write_noise(&source, 3_000_000, 5);
    let no_media = ["--video", "none", "--audio", "none", "--leave-after-files"];
    let send = [&no_media[..], &["--send-file", source.to_str().unwrap()]].concat();
    let receive = [&no_media[..], &["--receive-dir", into.to_str().unwrap()]].concat();
    let started = std::time::Instant::now();
    let (a, b, _, _) = call_over(&path, 50, &send, &receive).await;
    let dropped = path
        .outbound
        .dropped
        .load(std::sync::atomic::Ordering::Relaxed);
    let (sent, received) = (the_transfer(&a), the_transfer(&b));
    eprintln!(
        "3 MB over 5 Mbit/s, 2 % loss: {:.1} s with the call's setup, {dropped} packets dropped\n{sent:#}\n{received:#}",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(sent["state"], "sent");
    assert_eq!(received["state"], "received");
    let landed = PathBuf::from(received["path"].as_str().expect("where it landed"));
    assert!(same_bytes(&source, &landed), "the bytes differ");
    assert!(dropped > 20, "the path dropped only {dropped} packets");
    let _ = std::fs::remove_dir_all(&dir);
}
