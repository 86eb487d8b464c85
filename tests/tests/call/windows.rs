//! The Windows build: `tincan-cli.exe` (cross-built by scripts/build-windows) run by Wine, in a
//! call with a Linux peer through a Linux server, both ways. WASAPI (cpal's Windows host)
//! reaches the virtual sound devices through Wine's PulseAudio driver.

use super::*;
use tincan_e2e::wine::{windows_binary, Wine};

/// Under Wine the Windows peer decodes on a core shared with Wine's own server and the Linux
/// peer: the issue's bound, a little below the Linux calls' 95 %.
const WINE_SHARE: f64 = 0.90;

#[tokio::test]
async fn tincan_cli_exe_under_wine_lists_its_devices_and_calls_a_linux_peer_both_ways() {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = temp_dir("wine");
    let wine = Wine::start(&dir);

    // `devices` as a Windows user would run it: the sound devices by WASAPI's ids.
    let out = wine
        .command(windows_binary("tincan-cli"))
        .args(["devices", "--json"])
        .output()
        .expect("wine runs tincan-cli.exe");
    assert!(out.status.success(), "tincan-cli.exe devices: {out:?}");
    let json = String::from_utf8_lossy(&out.stdout);
    let devices: Value = serde_json::from_str(&json).expect("the device list is JSON");
    let named = |kind: &str, name: &str| {
        devices[kind].as_array().is_some_and(|list| {
            list.iter().any(|d| {
                d["name"] == name && d["id"].as_str().is_some_and(|id| id.starts_with("wasapi:"))
            })
        })
    };
    assert!(named("microphones", "TincanVirtualMic"), "{json}");
    assert!(named("speakers", "TincanVirtualSpeaker"), "{json}");
    assert_eq!(devices["cameras"], serde_json::json!([]), "{json}");

    // A call: the Linux peer creates the room, the Windows one joins it.
    let server = ServerProcess::start(&[]).await;
    let linux = CliPeer::start(&server, &dir, "Linus", None, &["--duration", "13"]).await;
    let (room, linux_id) = (linux.room.clone(), linux.id.clone());
    let windows = CliPeer::start_under_wine(
        &server,
        &wine,
        &dir,
        "Winnie",
        Some(&room),
        &["--duration", "10", "--audio", "tone:660"],
    )
    .await;
    let windows_id = windows.id.clone();
    let (linux, windows) = (linux.finish().await, windows.finish().await);

    for (sender, receiver, sender_id, receiver_id) in [
        (&linux, &windows, &linux_id, &windows_id),
        (&windows, &linux, &windows_id, &linux_id),
    ] {
        let sent = n(about(sender, receiver_id), "video_frames_sent");
        let decoded = n(about(receiver, sender_id), "video_frames_decoded");
        println!(
            "wine call: {receiver_id} decoded {decoded} of the {sent} frames {sender_id} sent it"
        );
        assert!(sent > 100.0, "{sender_id} sent only {sent} frames");
        assert!(
            decoded >= WINE_SHARE * sent,
            "{receiver_id} decoded {decoded} of {sent}"
        );
        let got = about(receiver, sender_id);
        assert_eq!(n(got, "stamps_out_of_order"), 0.0, "stamps in order");
    }
    let cpu = n(&windows, "cpu_seconds");
    println!("wine call: the Windows peer used {cpu:.1} s of CPU");
    assert!(
        cpu > 0.5,
        "tincan-cli.exe counted {cpu} s of CPU for a 10 s call"
    );
    assert_tone(&windows, &linux_id, 440.0);
    assert_tone(&linux, &windows_id, 660.0);
    std::fs::remove_dir_all(&dir).ok();
}

/// The installer, run silently as an administrator's script would: the app, its Start menu
/// entry, the tincan:// handler and the uninstaller entry. The installed app, started where
/// WebView2 is missing (Wine has none), says so in a message box rather than failing
/// silently. Then the uninstaller takes it all away again.
#[tokio::test]
async fn the_installer_installs_an_app_that_says_when_webview2_is_missing_and_uninstalls() {
    // Not a call, but booting Wine and running the installer keeps both cores busy for
    // seconds: a call beside it would lose frames.
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = temp_dir("wine-installer");
    let wine = Wine::start(&dir);
    let setup = tincan_e2e::wine::windows_dist("Tincan_0.1.0_x64-setup.exe");
    let status = wine
        .command(&setup)
        .arg("/S")
        .status()
        .expect("wine runs the installer");
    assert!(status.success(), "the installer exited with {status}");
    let installed = wine.local_app_data().join("Programs/Tincan");
    for file in ["tincan.exe", "WebView2Loader.dll", "uninstall.exe"] {
        assert!(installed.join(file).exists(), "{file} not installed");
    }
    let handler = wine.registry(r"HKCU\Software\Classes\tincan\shell\open\command");
    assert!(handler.contains(r#"\Tincan\tincan.exe" "%1""#), "{handler}");
    let entry = wine.registry(r"HKCU\Software\Microsoft\Windows\CurrentVersion\Uninstall\Tincan");
    assert!(
        entry.contains("DisplayVersion    REG_SZ    0.1.0"),
        "{entry}"
    );
    let start_menu = installed
        .ancestors()
        .nth(3)
        .expect("AppData")
        .join("Roaming/Microsoft/Windows/Start Menu/Programs/Tincan.lnk");
    assert!(
        start_menu.exists(),
        "no Start menu entry at {}",
        start_menu.display()
    );

    // The app, on a screen: its message box is a window called "Tincan".
    let desktop = tincan_e2e::Desktop::start_sized(800, 600).await;
    wine.stop();
    let mut app = Command::new("wine")
        .arg(installed.join("tincan.exe"))
        .envs(wine.env())
        .env("DISPLAY", &desktop.display)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("wine starts tincan.exe");
    let mut shown = false;
    for _ in 0..100 {
        let found = std::process::Command::new("xdotool")
            .args(["search", "--name", "^Tincan$"])
            .env("DISPLAY", &desktop.display)
            .output()
            .expect("xdotool runs");
        if !found.stdout.is_empty() {
            shown = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = app.start_kill();
    let out = app.wait_with_output().await.expect("tincan.exe ends");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(shown, "no message box within 20 s; the app said: {said}");
    assert!(
        said.contains("does not have") && said.contains("WebView2"),
        "the app said: {said}"
    );

    let status = wine
        .command(installed.join("uninstall.exe"))
        .arg("/S")
        .status()
        .expect("wine runs the uninstaller");
    assert!(status.success(), "the uninstaller exited with {status}");
    // NSIS's uninstaller runs from a copy of itself in the temporary folder: wait for it.
    for _ in 0..100 {
        if !installed.join("tincan.exe").exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        !installed.join("tincan.exe").exists(),
        "tincan.exe is still there"
    );
    assert!(!start_menu.exists(), "the Start menu entry is still there");
    assert_eq!(
        wine.registry(r"HKCU\Software\Classes\tincan"),
        "",
        "the link handler stays"
    );
    drop(wine);
    std::fs::remove_dir_all(&dir).ok();
}
