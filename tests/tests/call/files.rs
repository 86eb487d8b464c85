//! File transfer between two `tincan-cli` peers on loopback (`--send-file`, `--receive-dir`):
//! a 200 MB file arrives byte for byte with rising progress while the sender's memory stays
//! put, and a transfer cancelled from either side leaves nothing in the receiving folder.

use std::path::PathBuf;
use std::time::Duration;

use tincan_e2e::files::{entries, same_bytes, the_transfer, write_noise};
use tincan_e2e::process::rss_mib;
use tincan_e2e::{CliPeer, ServerProcess};

use super::{temp_dir, ONE_CALL_AT_A_TIME};

/// Neither side sends media: the transfer has the machine to itself.
const NO_MEDIA: [&str; 4] = ["--video", "none", "--audio", "none"];

fn fresh_dir(name: &str) -> PathBuf {
    let dir = temp_dir(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_mb_file_arrives_intact_while_the_senders_memory_stays_bounded() {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    const SIZE: u64 = 200_000_000;
    let dir = fresh_dir("file-200mb");
    let into = dir.join("downloads");
    let source = dir.join("big.bin");
    write_noise(&source, SIZE, 20);
    let server = ServerProcess::start(&[]).await;
    let send = [source.to_str().unwrap()];
    let sender_args = [
        &NO_MEDIA[..],
        &["--send-file", send[0], "--leave-after-files"],
    ]
    .concat();
    let a = CliPeer::start(&server, &dir, "sender", None, &sender_args).await;
    let pid = a.pid().expect("the sender runs");
    let before = rss_mib(pid);
    let receiver_args = [
        &NO_MEDIA[..],
        &[
            "--receive-dir",
            into.to_str().unwrap(),
            "--leave-after-files",
        ],
    ]
    .concat();
    let b = CliPeer::start(&server, &dir, "receiver", Some(&a.room), &receiver_args).await;
    // The sender's memory, every 50 ms until it is done.
    let mut peak = before;
    let started = std::time::Instant::now();
    while !a.printed("file sent", Duration::ZERO).await {
        peak = peak.max(rss_mib(pid));
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "200 MB not sent within 120 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let (sent, received) = tokio::join!(a.finish(), b.finish());
    server.stop().await;
    let (sent, received) = (the_transfer(&sent), the_transfer(&received));
    eprintln!(
        "200 MB in {seconds:.1} s ({:.1} MB/s); sender RSS {before:.1} → peak {peak:.1} MiB\n{sent:#}\n{received:#}",
        SIZE as f64 / 1e6 / seconds
    );
    assert_eq!(sent["state"], "sent");
    assert_eq!(received["state"], "received");
    assert_eq!(sent["sha256"], received["sha256"]);
    let path = PathBuf::from(received["path"].as_str().expect("where it landed"));
    assert_eq!(path, into.join("big.bin"));
    assert!(same_bytes(&source, &path), "the bytes differ");
    for side in [sent, received] {
        assert_eq!(side["progress_rising"], true, "progress only rises: {side}");
        assert_eq!(side["bytes"], SIZE, "the last progress is the whole file");
        assert!(
            side["progress_events"].as_u64() >= Some(10),
            "progress reported as it went: {side}"
        );
    }
    assert!(
        peak - before < 50.0,
        "the sender grew by {:.1} MiB",
        peak - before
    );
    assert_eq!(entries(&into), ["big.bin"], "nothing else left behind");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A 50 MB transfer cancelled after 1 MB, by `canceller` (the sender or the receiver): both
/// sides say who stopped it, and the receiving folder is empty, hidden part file included.
async fn cancelled_by(canceller: &str) {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = fresh_dir(&format!("file-cancel-{canceller}"));
    let into = dir.join("downloads");
    let source = dir.join("report.pdf");
    write_noise(&source, 50_000_000, 7);
    let server = ServerProcess::start(&[]).await;
    let cancel = ["--cancel-file-after", "1000000"];
    let mut sender_args = [
        &NO_MEDIA[..],
        &[
            "--send-file",
            source.to_str().unwrap(),
            "--leave-after-files",
        ],
    ]
    .concat();
    let mut receiver_args = [
        &NO_MEDIA[..],
        &[
            "--receive-dir",
            into.to_str().unwrap(),
            "--leave-after-files",
        ],
    ]
    .concat();
    match canceller {
        "sender" => sender_args.extend(cancel),
        _ => receiver_args.extend(cancel),
    }
    let a = CliPeer::start(&server, &dir, "sender", None, &sender_args).await;
    let b = CliPeer::start(&server, &dir, "receiver", Some(&a.room), &receiver_args).await;
    let ((a_code, a_summary), (b_code, b_summary)) = tokio::join!(a.exit(), b.exit());
    server.stop().await;
    let (a_summary, b_summary) = (a_summary.expect("a summary"), b_summary.expect("a summary"));
    let (sent, received) = (the_transfer(&a_summary), the_transfer(&b_summary));
    eprintln!("cancelled by the {canceller}:\n{sent:#}\n{received:#}");
    let (us, peer) = ("cancelled by us", "cancelled by peer");
    let (sender_says, receiver_says, sender_code) = match canceller {
        // The sender stopped it itself: not a failure.
        "sender" => (us, peer, Some(0)),
        // A file that did not arrive makes the sender exit 4.
        _ => (peer, us, Some(4)),
    };
    assert_eq!(sent["state"], sender_says);
    assert_eq!(received["state"], receiver_says);
    assert_eq!((a_code, b_code), (sender_code, Some(0)));
    assert!(
        received["bytes"].as_u64() < Some(50_000_000),
        "it stopped part way: {received}"
    );
    assert_eq!(
        entries(&into),
        Vec::<String>::new(),
        "nothing left in the receiving folder"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_cancelled_by_the_sender_leaves_no_partial_file() {
    cancelled_by("sender").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_cancelled_by_the_receiver_leaves_no_partial_file() {
    cancelled_by("receiver").await;
}
