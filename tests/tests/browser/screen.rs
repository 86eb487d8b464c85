//! Screen shares between Chromium and a native peer: Ada (tincan-cli) shares a page of text
//! from a display of her own, and Chromium shows it large, at its size, beside her camera,
//! until she stops; Chromium shares its own screen through the guest page's button
//! (`getDisplayMedia`, the screen picked by Chromium's auto-select flag) and Ada decodes it
//! on the share's track, as does Bo, who joins later (so Chromium answers his offer: the
//! other way the share's m-section is set up); Chromium stops, and both hear it.

use std::time::Duration;

use tincan_e2e::screen::{desktop_showing_text, last_recorded};
use tincan_e2e::{about, CliPeer, Place};

use super::{chromium_joins_a_native_peer, ONE_CALL_AT_A_TIME};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_and_a_native_peer_share_their_screens_with_each_other() {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let scratch = std::env::temp_dir().join(format!("tincan-screen-src-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    let (desktop, _) = desktop_showing_text(&scratch, 1280, 720).await;
    let recordings = scratch.join("recordings");
    let (dir, server, ada, browser, me) = chromium_joins_a_native_peer(
        "screen",
        &[
            "--size",
            "320x180",
            "--audio",
            "none",
            "--share-screen",
            &desktop.display,
            "--share-during",
            "0-8",
            "--record",
            recordings.to_str().unwrap(),
            "--duration",
            "18",
        ],
    )
    .await;

    // Ada's share: its own tile, at her screen's size, wider than her camera's.
    let seen = browser
        .wait_for(
            "Ada's share shown at its size",
            "const share = document.querySelector('#tiles .tile.share:not([hidden])');
             const camera = document.querySelector('#tiles .tile:not(.share)');
             const v = share && share.querySelector('video');
             return v && v.videoWidth === 1280 && v.videoHeight === 720 &&
                    { width: share.getBoundingClientRect().width,
                      camera: camera.getBoundingClientRect().width }",
            Duration::from_secs(15),
        )
        .await;
    let (share_width, camera_width) = (
        seen["width"].as_f64().unwrap_or(0.0),
        seen["camera"].as_f64().unwrap_or(f64::MAX),
    );
    assert!(
        share_width > 1.5 * camera_width,
        "Ada's share is not shown large: {seen}"
    );

    // Chromium shares its own screen with the page's button (a person's click: the browser
    // asks for one), while Ada's share goes on.
    browser.click("#share-screen").await;
    let sharing = browser
        .wait_for(
            "Chromium sharing its screen",
            "const b = document.getElementById('share-screen');
             const s = Object.values(await window.tincan.stats())[0];
             return b.getAttribute('aria-pressed') === 'true' && s && s.shareFramesSent > 10 && s",
            Duration::from_secs(10),
        )
        .await;
    eprintln!("Chromium's share, as it sends it: {sharing}");

    // Bo joins: he offers, Chromium answers, and its share goes to him too.
    let bo_recordings = scratch.join("bo-recordings");
    let everywhere = Place {
        bind: Some("0.0.0.0:0"),
        netns: None,
        env: &[],
    };
    let bo = CliPeer::start_at(
        &server,
        &everywhere,
        &dir,
        "Bo",
        Some(&ada.room),
        &[
            "--video",
            "none",
            "--audio",
            "none",
            "--record",
            bo_recordings.to_str().unwrap(),
            "--duration",
            "8",
        ],
    )
    .await;
    assert!(
        bo.printed(&format!("sharing {me} on"), Duration::from_secs(10))
            .await,
        "Bo never heard Chromium's share"
    );

    // Ada stops at 8 s: her share's tile goes. Then Chromium stops too.
    browser
        .wait_for(
            "Ada's share gone once she stopped",
            "return !document.querySelector('#tiles .tile.share:not([hidden])')",
            Duration::from_secs(12),
        )
        .await;
    browser.click("#share-screen").await;
    assert!(
        ada.printed(&format!("sharing {me} off"), Duration::from_secs(5))
            .await,
        "Ada never heard Chromium stop sharing"
    );
    let (ada, bo) = tokio::join!(ada.finish(), bo.finish());
    browser.quit().await;
    server.stop().await;

    let from_chromium = about(&ada, &me);
    let told: Vec<bool> = from_chromium["sharing_changes"]
        .as_array()
        .expect("sharing changes")
        .iter()
        .map(|change| change[1].as_bool().expect("on or off"))
        .collect();
    assert_eq!(told, [true, false], "Ada heard Chromium share, then stop");
    eprintln!("Chromium's share at Ada: {}", from_chromium["share"]);
    for (who, dir) in [("Ada", &recordings), ("Bo", &bo_recordings)] {
        let recorded = last_recorded(&dir.join(format!("{me}-screen.ivf")));
        eprintln!(
            "{who} decoded {} pictures of Chromium's share, {:?}",
            recorded.frames, recorded.size
        );
        assert!(
            recorded.frames >= 10 && recorded.last.is_some(),
            "{who} decoded {} pictures of Chromium's share",
            recorded.frames
        );
    }
    assert!(
        last_recorded(&recordings.join(format!("{me}.ivf"))).frames >= 30,
        "Chromium's camera did not go on beside its share"
    );
    let _ = bo;
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&scratch);
}
