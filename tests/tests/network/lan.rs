//! Calls on a LAN with no server set up: computers in namespaces on one bridge
//! (`tincan_e2e::lan::Lan`), one hosting the room on its built-in server, the other finding it
//! by the code alone over DNS-SD (crates/discovery).

use std::time::{Duration, Instant};

use tincan_e2e::lan::{Computer, Lan};
use tincan_e2e::{about, CliPeer, Place};

use super::{n, one_call_at_a_time};

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tincan-lan-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts `tincan-cli call` on `computer` with no server: hosting when `room` is None.
async fn peer(
    computer: &Computer,
    dir: &std::path::Path,
    name: &str,
    room: Option<&str>,
    extra: &[&str],
) -> CliPeer {
    let bind = format!("{}:0", computer.ip);
    let place = Place {
        bind: Some(&bind),
        netns: Some(computer),
        env: &[],
    };
    CliPeer::start_with_server(None, &place, dir, name, room, extra).await
}

/// `tincan-cli call --room CODE` (no server) on `computer`: its exit code, what it said, and
/// how long it took.
fn look_for(computer: &Computer, code: &str) -> (Option<i32>, String, Duration) {
    let cli = tincan_e2e::binary("tincan-cli");
    let started = Instant::now();
    let out = computer.output(&[
        cli.to_str().expect("a UTF-8 path"),
        "call",
        "--room",
        code,
        "--duration",
        "1",
    ]);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        started.elapsed(),
    )
}

/// Ada hosts a room on her LAN (`--create --host`); Bo, on another computer, joins by the code
/// alone and they call, video and audio both ways. Meanwhile a third computer asking for a
/// code nobody hosts hears "no call with this code on your network" within 3 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_computers_call_by_the_code_alone() {
    let _one = one_call_at_a_time().await;
    let lan = Lan::new(3);
    let [ada_pc, bo_pc, cy_pc] = &lan.computers[..] else {
        unreachable!()
    };
    let dir = temp_dir("call");
    let ada = peer(ada_pc, &dir, "ada", None, &["--host", "--duration", "9"]).await;
    let hosting = ada
        .printed_after("hosting")
        .expect("ada says where she hosts");
    assert!(
        hosting.starts_with(&format!("ws://{}:", ada_pc.ip)),
        "ada hosts at her LAN address, not {hosting}"
    );
    assert!(ada.printed("link", Duration::from_secs(5)).await);
    let link = ada
        .printed_after("link")
        .expect("ada prints the guest link");
    assert_eq!(
        link,
        format!(
            "{}/r/{}",
            hosting.trim_end_matches("/ws").replace("ws://", "http://"),
            ada.room
        )
    );
    let bo = peer(
        bo_pc,
        &dir,
        "bo",
        Some(&ada.room),
        &["--duration", "7", "--audio", "tone:660"],
    )
    .await;
    assert_eq!(
        bo.printed_after("found").as_deref(),
        Some(format!("{} at {hosting}", ada.room).as_str()),
        "bo says where he found the room"
    );

    let (code, said, took) = look_for(cy_pc, "k7wq-2m9x-d4tp");
    assert_eq!(code, Some(3), "a code nobody hosts is a room error: {said}");
    assert!(
        said.contains("no call with this code on your network"),
        "{said}"
    );
    assert!(took < Duration::from_secs(3), "told in {took:?}");
    eprintln!("a wrong code was told in {took:?}");

    let (ada_id, bo_id) = (ada.id.clone(), bo.id.clone());
    let (ada, bo) = tokio::join!(ada.finish(), bo.finish());
    for (me, other, summary, hz) in [("ada", &bo_id, &ada, 660.0), ("bo", &ada_id, &bo, 440.0)] {
        let from = about(summary, other);
        let decoded = n(from, "video_frames_decoded");
        assert!(decoded > 60.0, "{me} decoded only {decoded} frames");
        let got = n(from, "audio_hz");
        assert!((got - hz).abs() < 5.0, "{me} heard {got} Hz, not {hz}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Hosting for this computer only (the app's "Let people on my network join my calls" off;
/// `--create` without `--host`): another computer cannot connect to the server at all, and
/// looking for the room finds nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_for_this_computer_only_is_out_of_the_networks_reach() {
    let _one = one_call_at_a_time().await;
    let lan = Lan::new(2);
    let [ada_pc, bo_pc] = &lan.computers[..] else {
        unreachable!()
    };
    let dir = temp_dir("private");
    let ada = peer(ada_pc, &dir, "ada", None, &["--duration", "6"]).await;
    let hosting = ada
        .printed_after("hosting")
        .expect("ada says where she hosts");
    assert!(hosting.starts_with("ws://127.0.0.1:"), "{hosting}");
    let port = hosting
        .trim_start_matches("ws://127.0.0.1:")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    // Bo tries the port on Ada's LAN address directly: refused.
    let out = bo_pc.output(&[
        "bash",
        "-c",
        &format!("exec 3<>/dev/tcp/{}/{port}", ada_pc.ip),
    ]);
    assert!(
        !out.status.success(),
        "bo connected to ada's private server at {}:{port}",
        ada_pc.ip
    );
    let (code, said, took) = look_for(bo_pc, &ada.room);
    assert_eq!(code, Some(3), "{said}");
    assert!(
        said.contains("no call with this code on your network"),
        "{said}"
    );
    assert!(took < Duration::from_secs(3), "told in {took:?}");
    ada.finish().await;
    std::fs::remove_dir_all(&dir).ok();
}
