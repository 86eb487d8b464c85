//! Files and the screen in the app's call with Ada (`call.rs`): her file accepted into
//! Downloads, one sent to her through the system's file chooser, a second offer declined,
//! the screen shared and stopped and what her recording shows of it, and her own share
//! shown large beside the people, then gone when she stops.

use std::path::Path;
use std::time::Duration;

use serde_json::json;
use tincan_e2e::desktop::page::click;
use tincan_e2e::files::sha256_of;
use tincan_e2e::screen::window_showing_text;
use tincan_e2e::{Browser, CliPeer, Desktop};
use tincan_media::codec::{IvfReader, Vp8Decoder};

pub(super) async fn files_both_ways(
    app: &Browser,
    desktop: &Desktop,
    shots: &Path,
    downloads: &Path,
    from_ada: &Path,
    to_ada: &Path,
) {
    // Files: Ada's offer is in the Files panel; Accept saves it in Downloads. Then
    // "Send files…" opens the system's file chooser; the file typed there goes to Ada, who
    // saves it.
    click(app, "files-toggle").await;
    let offer = app
        .wait_for(
            "Ada's file offered in the Files panel",
            "const f = [...window.tincan.files.values()].find(f => f.state === 'offered');
             return f && document.querySelector(`#file-list [data-transfer='${f.id}'] [data-action=accept]`) && f",
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(offer["name"], json!("from-ada.bin"), "{offer}");
    assert_eq!(offer["size"], json!(3_000_000), "{offer}");
    app.execute(
        &format!(
            "document.querySelector(\"#file-list [data-transfer='{}'] [data-action=accept]\").click(); return true",
            offer["id"]
        ),
        json!([]),
    )
    .await;
    click(app, "file-pick").await;
    desktop.choose_in_file_dialog("Send files", to_ada).await;
    let ends = app
        .wait_for(
            "both files handed over",
            "const f = [...window.tincan.files.values()];
             const done = f.filter(f => f.state === 'received' || f.state === 'sent');
             return done.length === 2 && f.map(f => [f.name, f.state, f.path || null])",
            Duration::from_secs(20),
        )
        .await;
    eprintln!("files in the app: {ends}");
    desktop.screenshot(&shots.join("files.png"));
    let saved = downloads.join("from-ada.bin");
    assert_eq!(
        ends,
        json!([
            ["from-ada.bin", "received", saved.to_str()],
            ["for ada.bin", "sent", null]
        ])
    );
    assert_eq!(sha256_of(&saved), sha256_of(from_ada), "the file Ada sent");
    click(app, "files-toggle").await;
}

/// When Ada shares her screen, in seconds of her call: from about when the app's own share
/// ends (it starts about 11 s into hers here), for 10 s; she stays 60 s.
pub(super) const ADA_SHARES: &str = "16-26";

/// The window the app shares: a page of text of this size (sharing.rs, Ada's recording).
pub(super) const WINDOW: (u32, u32) = (400, 200);

pub(super) async fn share_the_screen(app: &Browser, desktop: &Desktop, shots: &Path, dir: &Path) {
    // Share screen: the picker offers the display and its windows with thumbnails; the app
    // shares a window showing a page of text, beside the camera's picture, until it stops.
    // (Ada's recording shows both: checked at the end.)
    // In the bottom right corner, clear of the picker (for the screenshot), all on view.
    let (_window, _) = window_showing_text(desktop, dir, WINDOW.0, WINDOW.1, (690, 515)).await;
    let wanted = "ImageMagick: window.ppm";
    click(app, "share-screen").await;
    let choices = app
        .wait_for(
            "the picker with the display and the window, drawn",
            &format!(
                "const picker = document.getElementById('share-picker');
                 const c = window.tincan.shareChoices || [];
                 const drawn = [...document.querySelectorAll('#share-choices canvas')].filter(x => x.width > 2).length;
                 return !picker.hidden && c.some(x => x.name === {wanted:?}) && drawn >= 2 && c"
            ),
            Duration::from_secs(10),
        )
        .await;
    eprintln!("share choices: {}", summary(&choices));
    assert_eq!(choices[0]["name"], "Entire screen", "the display first");
    desktop.screenshot(&shots.join("screen-share-picker.png"));
    app.execute(
        &format!(
            "const c = window.tincan.shareChoices.find(x => x.name === {wanted:?});
             document.querySelector(`#share-choices [data-target='${{c.target}}']`).click(); return true"
        ),
        json!([]),
    )
    .await;
    app.wait_for(
        "the share button pressed",
        "const b = document.getElementById('share-screen');
         return b.getAttribute('aria-pressed') === 'true' && b.textContent === 'Stop sharing'",
        Duration::from_secs(5),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    desktop.screenshot(&shots.join("screen-share.png"));
    click(app, "share-screen").await;
    app.wait_for(
        "the share stopped",
        "return document.getElementById('share-screen').getAttribute('aria-pressed') === 'false'",
        Duration::from_secs(5),
    )
    .await;
}

/// The choices without their thumbnails, for the log.
fn summary(choices: &serde_json::Value) -> String {
    choices
        .as_array()
        .map(|c| {
            c.iter()
                .map(|x| {
                    format!(
                        "{} {}x{} {}",
                        x["target"], x["width"], x["height"], x["name"]
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default()
}

/// Ada's share, seen in the app: a tile of its own, large, her camera's small beside it; gone
/// when she stops.
pub(super) async fn see_a_share(app: &Browser, ada: &CliPeer, desktop: &Desktop, shots: &Path) {
    let layout = app
        .wait_for(
            "Ada's screen share in a large tile",
            &format!(
                "const t = window.tincan.tiles[{share:?}];
                 const r = (id) => document.getElementById(id)?.getBoundingClientRect();
                 const share = r('share-{id}'), camera = r('tile-{id}');
                 return t && t.drawn >= 5 && share && camera &&
                        {{ drawn: t.drawn, width: t.width, height: t.height,
                          share: share.width * share.height, camera: camera.width * camera.height }}",
                share = format!("{}/screen", ada.id),
                id = ada.id,
            ),
            Duration::from_secs(25),
        )
        .await;
    eprintln!("Ada's share in the app: {layout}");
    let (share, camera) = (
        layout["share"].as_f64().unwrap_or(0.0),
        layout["camera"].as_f64().unwrap_or(f64::MAX),
    );
    assert!(
        share >= 3.0 * camera,
        "the share is not shown large beside the people: {layout}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    desktop.screenshot(&shots.join("screen-share-received.png"));
    assert!(
        ada.printed("share stopped", Duration::from_secs(20)).await,
        "Ada never stopped sharing"
    );
    app.wait_for(
        "Ada's share tile gone once she stopped",
        &format!(
            "return !document.getElementById('share-{}') && !window.tincan.tiles[{:?}]",
            ada.id,
            format!("{}/screen", ada.id)
        ),
        Duration::from_secs(5),
    )
    .await;
}

pub(super) async fn decline_a_second_offer(app: &Browser) {
    // Ada offers her file again to the app in the new call: this time it is declined, and
    // she hears so.
    let again = app
        .wait_for(
            "Ada's file offered again after rejoining",
            "const f = [...window.tincan.files.values()].find(f => f.state === 'offered');
             return f && document.querySelector(`#file-list [data-transfer='${f.id}'] [data-action=decline]`) && f.id",
            Duration::from_secs(10),
        )
        .await;
    app.execute(
        &format!(
            "document.querySelector(\"#file-list [data-transfer='{again}'] [data-action=decline]\").click(); return true"
        ),
        json!([]),
    )
    .await;
    app.wait_for(
        "the declined file shown as declined",
        &format!("return window.tincan.files.get({again}).state === 'declined'"),
        Duration::from_secs(10),
    )
    .await;
}

/// Ada's recordings of the app: `ME-screen.ivf` holds the shared window at its size, and
/// `ME.ivf` the camera's pattern all along (the share never took its place).
pub(super) fn assert_the_share_was_recorded(record: &Path, me: &str) {
    let sizes = |file: String| {
        let mut ivf = IvfReader::open(record.join(&file)).expect("Ada's recording");
        let mut decoder = Vp8Decoder::new().expect("a decoder");
        let mut sizes: Vec<(u32, u32, usize)> = Vec::new();
        while let Some((data, _)) = ivf.next_frame().expect("a readable recording") {
            if let Ok(picture) = decoder.decode(&data, 0) {
                let size = (picture.width(), picture.height());
                match sizes.last_mut() {
                    Some((w, h, n)) if (*w, *h) == size => *n += 1,
                    _ => sizes.push((size.0, size.1, 1)),
                }
            }
        }
        eprintln!("{file} at Ada, size runs: {sizes:?}");
        sizes
    };
    let shared = sizes(format!("{me}-screen.ivf"));
    assert!(
        shared.iter().any(|&(w, h, n)| (w, h) == WINDOW && n >= 3),
        "Ada never saw the app's {WINDOW:?} window: {shared:?}"
    );
    let camera = sizes(format!("{me}.ivf"));
    assert!(
        camera.iter().all(|&(w, h, _)| (w, h) != WINDOW),
        "the window went in place of the camera: {camera:?}"
    );
    assert!(
        camera.iter().map(|&(.., n)| n).sum::<usize>() >= 300,
        "the camera's pictures did not go on beside the share: {camera:?}"
    );
}
