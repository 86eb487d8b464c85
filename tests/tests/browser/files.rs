//! Files between Chromium and a native peer, both ways, through the guest page's controls:
//! the file picker sends, the Accept button takes; each side gets the other's bytes with the
//! same SHA-256.

use std::time::Duration;

use serde_json::json;
use tincan_e2e::files::{same_bytes, sha256_of, write_noise};

use super::{chromium_joins_a_native_peer, ONE_CALL_AT_A_TIME};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_go_from_chromium_to_a_native_peer_and_back_intact() {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    const SIZE: u64 = 5_000_000;
    let scratch = std::env::temp_dir().join(format!("tincan-files-src-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    let from_ada = scratch.join("from-ada.bin");
    let from_chromium = scratch.join("from-chromium.bin");
    write_noise(&from_ada, SIZE, 7);
    write_noise(&from_chromium, SIZE + 12_345, 8);
    let into = scratch.join("ada-downloads");
    // Ada offers her file at once; she leaves once both transfers are over (hers waits for
    // Chromium's answer, so she cannot leave before Chromium's file reaches her).
    let (dir, server, ada, browser, _me) = chromium_joins_a_native_peer(
        "files",
        &[
            "--video",
            "none",
            "--audio",
            "none",
            "--send-file",
            from_ada.to_str().unwrap(),
            "--receive-dir",
            into.to_str().unwrap(),
            "--leave-after-files",
            "--duration",
            "60",
        ],
    )
    .await;

    // Chromium → Ada: picked in the page's file input, to everyone (Ada).
    browser
        .wait_for(
            "a connection to Ada",
            "return [...window.tincan.peers.values()].some(p => p.pc.connectionState === 'connected')",
            Duration::from_secs(15),
        )
        .await;
    browser.choose_file("#file-pick", &from_chromium).await;
    let sent = browser
        .wait_for(
            "Ada confirming Chromium's file",
            "const t = window.tincan.files.find(f => f.direction === 'sent');
             return t && t.state !== 'offering' && t.state !== 'sending' ? t : {waiting: t}",
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(sent["state"], "sent", "{sent:#}");

    // Ada → Chromium: her offer is listed with an Accept button, which the test presses.
    browser
        .wait_for(
            "Ada's offer with an Accept button",
            "return document.querySelector('#file-list [data-action=accept]') !== null",
            Duration::from_secs(15),
        )
        .await;
    browser
        .execute(
            "document.querySelector('#file-list [data-action=accept]').click(); return true",
            json!([]),
        )
        .await;
    let received = browser
        .wait_for(
            "Ada's file in Chromium",
            "const t = window.tincan.files.find(f => f.direction === 'received');
             return t && !['offered', 'receiving'].includes(t.state) ? t : {waiting: t}",
            Duration::from_secs(30),
        )
        .await;
    // What the page keeps behind its Save link, hashed by the browser's own WebCrypto (not the page's
    // SHA-256, which the transfer used).
    let saved = browser
        .execute(
            "const t = window.tincan.files.find(f => f.direction === 'received');
             const bytes = await window.tincan.savedFile(t.id).arrayBuffer();
             const hash = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
             const link = document.querySelector(`#file-list [data-transfer='${t.id}'] a`);
             return { size: bytes.byteLength, link: link && link.download,
                      sha256: [...hash].map(b => b.toString(16).padStart(2, '0')).join('') }",
            json!([]),
        )
        .await;
    let summary = ada.finish().await;
    browser.quit().await;

    assert_eq!(received["state"], "received", "{received:#}");
    assert_eq!(received["name"], "from-ada.bin");
    assert_eq!(saved["size"], SIZE, "{saved:#}");
    assert_eq!(
        saved["link"], "from-ada.bin",
        "a Save link under the file's name"
    );
    let ada_hash = sha256_of(&from_ada);
    assert_eq!(
        saved["sha256"],
        ada_hash.as_str(),
        "the bytes Chromium keeps"
    );
    assert_eq!(received["sha256"], ada_hash.as_str(), "the hash Ada gave");

    let files = summary["files"].as_array().expect("Ada's files");
    let got = files
        .iter()
        .find(|f| f["direction"] == "received")
        .unwrap_or_else(|| panic!("Ada received nothing: {files:#?}"));
    assert_eq!(got["state"], "received", "{got:#}");
    let path = got["path"].as_str().expect("where Ada saved it");
    assert!(
        same_bytes(&from_chromium, std::path::Path::new(path)),
        "Ada's copy of Chromium's file differs"
    );
    assert_eq!(got["sha256"], sent["sha256"], "the same hash at both ends");
    assert_eq!(got["sha256"], sha256_of(&from_chromium).as_str());
    let gave = files
        .iter()
        .find(|f| f["direction"] == "sent")
        .unwrap_or_else(|| panic!("Ada sent nothing: {files:#?}"));
    assert_eq!(gave["state"], "sent", "{gave:#}");
    let _ = std::fs::remove_dir_all(&scratch);
    let _ = std::fs::remove_dir_all(&dir);
    drop(server);
}
