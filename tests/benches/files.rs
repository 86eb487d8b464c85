//! File transfer throughput (a benchmark, not a test): two release `tincan-cli` peers with no
//! media hand over a file of noise (`--send-file`, `--receive-dir`), on loopback and across
//! `tincan_e2e::LongPath` links with a rate limit. Prints a Markdown table: the time from the
//! offer to the receiver's confirmation (the summary's `seconds`, answering included), the
//! file's bytes per second over it, and that as a share of the link's rate (which counts the
//! IP packets, headers included); how busy the link was over that time (the IP bytes it
//! carried toward the receiver, headers and retransmissions included); and the packets the
//! link dropped on the way (its rate limit's queue overflowing, or the random loss).
//!
//! Run as root with `scripts/bench-network files`; TINCAN_BIN_DIR runs another build.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::Value;
use tincan_e2e::files::{same_bytes, the_transfer, write_noise};
use tincan_e2e::long_path::{call_over, Impairment, LongPath};
use tincan_e2e::{CliPeer, ServerProcess};

const NO_MEDIA: [&str; 5] = ["--video", "none", "--audio", "none", "--leave-after-files"];

/// One row of the table, after checking the file arrived whole.
fn row(
    what: &str,
    source: &Path,
    size: u64,
    sent: &Value,
    received: &Value,
    link: Option<(u32, u64, u64)>,
) {
    assert_eq!(sent["state"], "sent", "{sent:#}");
    assert_eq!(received["state"], "received", "{received:#}");
    let landed = Path::new(received["path"].as_str().expect("where it landed"));
    assert!(same_bytes(source, landed), "{what}: the bytes differ");
    let seconds = sent["seconds"].as_f64().expect("the sender's seconds");
    let rate = size as f64 / seconds;
    let of_link = |bytes_per_second: f64| {
        link.map(|(kbit, ..)| {
            format!(
                "{:.0} %",
                bytes_per_second * 8.0 / (f64::from(kbit) * 1000.0) * 100.0
            )
        })
        .unwrap_or_else(|| "–".into())
    };
    let share = of_link(rate);
    let busy = of_link(link.map_or(0.0, |(.., carried)| carried as f64 / seconds));
    let dropped = link
        .map(|(_, dropped, _)| dropped.to_string())
        .unwrap_or_else(|| "–".into());
    println!(
        "| {what} | {:.0} MB | {seconds:.1} s | {:.2} MB/s ({:.1} Mbit/s) | {share} | {busy} | {dropped} |",
        size as f64 / 1e6,
        rate / 1e6,
        rate * 8.0 / 1e6
    );
}

fn fresh(dir: &Path) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("a temp dir");
}

#[tokio::main]
async fn main() {
    let dir = std::env::temp_dir().join(format!("tincan-bench-files-{}", std::process::id()));
    println!("| path | file | offer → confirmed | throughput | of the link | link busy | packets the link dropped (sender → receiver) |");
    println!("|---|---|---|---|---|---|---|");

    // Loopback: what the engine itself can move.
    fresh(&dir);
    const BIG: u64 = 200_000_000;
    let source = dir.join("big.bin");
    write_noise(&source, BIG, 1);
    let into = dir.join("downloads");
    let server = ServerProcess::start(&[]).await;
    let send = [&NO_MEDIA[..], &["--send-file", source.to_str().unwrap()]].concat();
    let receive = [&NO_MEDIA[..], &["--receive-dir", into.to_str().unwrap()]].concat();
    let a = CliPeer::start(&server, &dir, "sender", None, &send).await;
    let b = CliPeer::start(&server, &dir, "receiver", Some(&a.room), &receive).await;
    let (a, b) = tokio::join!(a.finish(), b.finish());
    row(
        "loopback",
        &source,
        BIG,
        the_transfer(&a),
        the_transfer(&b),
        None,
    );
    server.stop().await;

    // Rate-limited links, 20 ms each way: clean at 20 Mbit/s (40 MB, and 100 MB, where the
    // start and the end weigh less), and 5 Mbit/s with 2 % loss.
    for (kbit, loss, size) in [
        (20_000u32, 0.0, 40_000_000u64),
        (20_000, 0.0, 100_000_000),
        (5_000, 2.0, 5_000_000),
    ] {
        fresh(&dir);
        let source = dir.join("file.bin");
        write_noise(&source, size, 2);
        let into = dir.join("downloads");
        let way = || {
            let mut way = Impairment::delay_loss(20, loss);
            way.jitter = Duration::ZERO;
            way.rate_kbit = Some(kbit);
            way
        };
        let path = LongPath::new(way(), way());
        let send = [&NO_MEDIA[..], &["--send-file", source.to_str().unwrap()]].concat();
        let receive = [&NO_MEDIA[..], &["--receive-dir", into.to_str().unwrap()]].concat();
        let (a, b, _, _) = call_over(&path, 120, &send, &receive).await;
        let what = format!("{} Mbit/s, 20 ms each way, {loss} % loss", kbit / 1000);
        let dropped = path.outbound.dropped.load(Ordering::Relaxed);
        let carried = path.outbound.forwarded_bytes.load(Ordering::Relaxed);
        let link = Some((kbit, dropped, carried));
        row(
            &what,
            &source,
            size,
            the_transfer(&a),
            the_transfer(&b),
            link,
        );
        drop(path);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
