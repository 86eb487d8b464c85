//! Chromium and a native peer over the networks people have: Chromium hiding its host
//! addresses behind mDNS names (its default), no direct path at all (only a TURN relay), and
//! a signaling server that restarts mid-call.

use std::time::Duration;

use serde_json::{json, Value};
use tincan_e2e::turn::{Coturn, SECRET};
use tincan_e2e::{about, CliPeer, Netns, Place, ServerProcess};

use super::{
    chromium_joins_a_native_peer, fake_devices, join_from_chromium_with, n, stats_when_left,
    ONE_CALL_AT_A_TIME,
};

/// Chromium with its default mDNS obfuscation on calls a native peer: frames both ways, and
/// setup takes about as long as with the obfuscation off (the native engine does not wait on
/// resolving `.local` names: Chromium's checks teach it the address).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_hiding_its_addresses_calls_a_native_peer_as_fast() {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = std::env::temp_dir().join(format!("tincan-browser-mdns-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (video, audio) = fake_devices(&dir);
    let server = ServerProcess::start(&[]).await;
    let everywhere = Place {
        bind: Some("0.0.0.0:0"),
        netns: None,
        env: &[],
    };
    let mut setup_ms = Vec::new();
    for hide in [false, true] {
        let ada = CliPeer::start_at(
            &server,
            &everywhere,
            &dir,
            "Ada",
            None,
            &["--duration", "6"],
        )
        .await;
        let (browser, me) = join_from_chromium_with(&server, &ada.room, &video, &audio, hide).await;
        let ada_id = ada.id.clone();
        let ada = ada.finish().await;
        let seen = stats_when_left(&browser, &ada_id).await;
        browser.quit().await;
        let from_browser = about(&ada, &me);
        eprintln!("hiding {hide}: Ada about Chromium: {from_browser:#}");
        assert!(
            n(from_browser, "video_frames_decoded") > 60.0,
            "{from_browser:#}"
        );
        assert!(n(&seen, "framesDecoded") > 60.0, "{seen:#}");
        if hide {
            // Its host candidates came as names; what connected was learned from its checks
            // (peer reflexive) or one of them resolved.
            assert!(
                from_browser["remote_candidate"].is_string(),
                "{from_browser:#}"
            );
        }
        setup_ms.push(n(from_browser, "setup_ms"));
    }
    eprintln!("setup without / with mDNS names: {setup_ms:?} ms");
    assert!(
        setup_ms[1] <= 1.5 * setup_ms[0].max(200.0),
        "setup with mDNS names took {} ms, without {} ms",
        setup_ms[1],
        setup_ms[0]
    );
    server.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}

/// No direct path between a native peer (in a namespace) and Chromium: nftables lets only the
/// TURN server's port through. The call goes through coturn, both ways. The credentials last
/// 8 s: both ends fetch fresh ones before that, and the native peer, whose relay allocation
/// carries the call, moves its path onto them (about 6 s in); the call goes on for 8 s more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_and_a_native_peer_call_through_coturn_when_nothing_else_gets_through() {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let link = Netns::plain();
    let turn = Coturn::start(&link.host_ip).await;
    link.block_udp_except(turn.port);
    let turn_url = turn.url(&link.host_ip);
    let server = ServerProcess::start_on(
        &format!("{}:0", link.host_ip),
        &[
            "--turn",
            &turn_url,
            "--turn-secret",
            SECRET,
            "--turn-ttl",
            "8s",
        ],
    )
    .await;
    let dir = std::env::temp_dir().join(format!("tincan-browser-turn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (video, audio) = fake_devices(&dir);
    let bind = format!("{}:0", link.ns_ip);
    let ada = CliPeer::start_at(
        &server,
        &Place {
            bind: Some(&bind),
            netns: Some(&link),
            env: &[],
        },
        &dir,
        "Ada",
        None,
        &["--duration", "14"],
    )
    .await;
    let (browser, me) = join_from_chromium_with(&server, &ada.room, &video, &audio, false).await;
    let ada_id = ada.id.clone();
    let ada = ada.finish().await;
    let seen: Value = stats_when_left(&browser, &ada_id).await;
    let browser_renewals = browser
        .execute("return window.tincan.iceRenewals", json!([]))
        .await;
    browser.quit().await;
    server.stop().await;
    drop(turn);
    let from_browser = about(&ada, &me);
    assert!(n(&ada, "ice_renewals") >= 1.0, "Ada renewed: {ada:#}");
    assert!(
        browser_renewals.as_u64() >= Some(1),
        "Chromium renewed: {browser_renewals}"
    );
    eprintln!("Ada about Chromium: {from_browser:#}\nChromium about Ada: {seen:#}");
    assert_eq!(from_browser["local_candidate"], "relay", "{from_browser:#}");
    let (sent, decoded) = (
        n(from_browser, "video_frames_sent"),
        n(&seen, "framesDecoded"),
    );
    // The renewal's ICE restart stops video until the new relayed pair carries it: up to
    // 1.5 s of frames (30 a second) sent into that gap are not counted as lost.
    let gap_ms = n(from_browser, "max_frame_gap_ms");
    eprintln!("Ada's longest gap between Chromium's frames: {gap_ms} ms");
    assert!(gap_ms < 3000.0, "video stopped for {gap_ms} ms");
    let in_the_gap = 45.0;
    assert!(sent > 150.0, "Ada sent only {sent} frames");
    assert!(
        decoded >= 0.95 * sent - in_the_gap,
        "Chromium decoded {decoded} of {sent}"
    );
    let (sent, decoded) = (
        n(&seen, "framesSent"),
        n(from_browser, "video_frames_decoded"),
    );
    assert!(
        decoded >= 0.95 * sent - in_the_gap,
        "Ada decoded {decoded} of Chromium's {sent}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// The server is killed mid-call and comes back 5 s later: Chromium's call with a native peer
/// goes on meanwhile, the guest page takes its place back in the re-created room, and a third
/// peer who joins afterwards reaches Chromium.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_stays_in_the_call_while_the_server_restarts() {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let (dir, server, ada, browser, me) =
        chromium_joins_a_native_peer("browser-restart", &["--duration", "24"]).await;
    // Frames Chromium decoded from Ada (the first peer it has).
    let decoded = "const s = Object.values(await window.tincan.stats())[0];
                   return s ? s.framesDecoded : 0";
    browser
        .wait_for(
            "decoding Ada's video",
            "const s = Object.values(await window.tincan.stats())[0];
             return s && s.framesDecoded > 30",
            Duration::from_secs(15),
        )
        .await;
    let addr = server.addr.to_string();
    server.stop().await;
    let before = browser
        .execute(decoded, json!([]))
        .await
        .as_f64()
        .unwrap_or(0.0);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let during = browser
        .execute(decoded, json!([]))
        .await
        .as_f64()
        .unwrap_or(0.0);
    assert!(
        during - before > 100.0,
        "Chromium decoded {} frames in the 5 s the server was down",
        during - before
    );
    let server = ServerProcess::start_on(&addr, &[]).await;
    browser
        .wait_for(
            "the guest page back in the room",
            "return window.tincan.serverConnected === true",
            Duration::from_secs(15),
        )
        .await;
    assert!(ada.printed("server back", Duration::from_secs(15)).await);
    // Someone new reaches Chromium through the re-created room.
    let cy = CliPeer::start_at(
        &server,
        &Place {
            bind: Some("0.0.0.0:0"),
            netns: None,
            env: &[],
        },
        &dir,
        "Cy",
        Some(&ada.room),
        &["--duration", "6"],
    )
    .await;
    let cy_id = cy.id.clone();
    browser
        .wait_for(
            "decoding Cy's video",
            &format!(
                "const s = (await window.tincan.stats())[{cy_id:?}];
                 return s && s.framesDecoded > 30"
            ),
            Duration::from_secs(15),
        )
        .await;
    let cy = cy.finish().await;
    ada.finish().await;
    browser.quit().await;
    assert!(n(about(&cy, &me), "video_frames_decoded") > 60.0, "{cy:#}");
    std::fs::remove_dir_all(&dir).ok();
}
