//! Files and the screen in the app's call with Ada (`call.rs`): her file accepted into
//! Downloads, one sent to her through the system's file chooser, a second offer declined,
//! the screen shared and stopped, and what her recording shows of the share.

use std::path::Path;
use std::time::Duration;

use serde_json::json;
use tincan_e2e::desktop::page::click;
use tincan_e2e::files::sha256_of;
use tincan_e2e::{Browser, Desktop};
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

pub(super) async fn share_the_screen(app: &Browser, desktop: &Desktop, shots: &Path) {
    // Share screen: the app's display (1100x720 here) goes to Ada instead of the camera's
    // picture, then the camera comes back. (Ada's recording shows both: checked at the end.)
    click(app, "share-screen").await;
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

/// `record/ME.ivf` (Ada's recording of the app's video) holds the share, then the camera.
pub(super) fn assert_the_share_was_recorded(record: &Path, me: &str) {
    // What Ada recorded of the app's video: the pattern (at the app's 720p, or less when the
    // network asked), the shared screen at the display's size, then the pattern again.
    let mut ivf = IvfReader::open(record.join(format!("{me}.ivf"))).expect("Ada's recording");
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
    eprintln!("the app's video at Ada, size runs: {sizes:?}");
    let shared = sizes
        .iter()
        .position(|&(w, h, n)| (w, h) == (1100, 720) && n >= 3)
        .unwrap_or_else(|| panic!("Ada never saw the app's 1100x720 screen: {sizes:?}"));
    assert!(
        sizes[shared + 1..]
            .iter()
            .any(|&(w, _, n)| w <= 640 && n >= 10),
        "the camera's picture did not come back after the share: {sizes:?}"
    );
}
