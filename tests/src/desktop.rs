//! The desktop app (`tincan`, src-tauri) under a virtual display, driven over WebDriver:
//! Xvfb for the screen, a private D-Bus session (the app's single-instance lock lives there),
//! and tauri-driver in front of WebKitWebDriver (Debian `webkit2gtk-driver`; tauri-driver is
//! installed by scripts/install-deps with cargo).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use tokio::process::{Child, Command};

use crate::webdriver::{free_port, Browser};

/// A virtual screen and a D-Bus session bus for one app; both end when dropped.
pub struct Desktop {
    xvfb: Child,
    dbus: Child,
    pub display: String,
    pub dbus_address: String,
}

impl Desktop {
    pub async fn start() -> Self {
        // A display number no other test process uses at the same time.
        let number = 90 + std::process::id() % 400;
        let display = format!(":{number}");
        let xvfb = Command::new("Xvfb")
            .args([&display, "-screen", "0", "1100x720x24", "-nolisten", "tcp"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("Xvfb runs (Debian package xvfb; scripts/install-deps installs it)");
        let socket = PathBuf::from(format!("/tmp/.X11-unix/X{number}"));
        for _ in 0..100 {
            if socket.exists() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut dbus = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("dbus-daemon runs (Debian package dbus)");
        let mut out = dbus.stdout.take().expect("piped");
        let mut address = Vec::new();
        let mut byte = [0u8; 1];
        use tokio::io::AsyncReadExt;
        while tokio::time::timeout(Duration::from_secs(5), out.read_exact(&mut byte))
            .await
            .is_ok_and(|r| r.is_ok())
            && byte[0] != b'\n'
        {
            address.push(byte[0]);
        }
        let dbus_address = String::from_utf8_lossy(&address).trim().to_owned();
        assert!(!dbus_address.is_empty(), "dbus-daemon gave no address");
        Self {
            xvfb,
            dbus,
            display,
            dbus_address,
        }
    }

    /// What the screen shows now, as a PNG at `path` (ImageMagick's `import`).
    pub fn screenshot(&self, path: &Path) {
        let status = std::process::Command::new("import")
            .args(["-display", &self.display, "-window", "root"])
            .arg(path)
            .status()
            .expect("import runs (Debian package imagemagick)");
        assert!(status.success(), "screenshot to {} failed", path.display());
    }
}

impl Drop for Desktop {
    fn drop(&mut self) {
        let _ = self.xvfb.start_kill();
        let _ = self.dbus.start_kill();
    }
}

/// Starts the app binary on `desktop` with its settings in `config_home` and returns the
/// WebDriver session driving its window.
pub async fn start_app(desktop: &Desktop, config_home: &Path, env: &[(&str, &str)]) -> Browser {
    let app = crate::binary("tincan");
    let port = free_port();
    let native_port = free_port();
    let driver_bin = std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cargo/bin/tauri-driver"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("tauri-driver"));
    let mut command = Command::new(driver_bin);
    command
        .args(["--port", &port.to_string()])
        .args(["--native-port", &native_port.to_string()])
        .args(["--native-driver", "/usr/bin/WebKitWebDriver"])
        .env("DISPLAY", &desktop.display)
        .env("DBUS_SESSION_BUS_ADDRESS", &desktop.dbus_address)
        .env("XDG_CONFIG_HOME", config_home)
        // No GPU here: WebKit's compositing falls back to software, which is what a user
        // without GPU drivers gets too.
        .env("WEBKIT_DISABLE_DMABUF_RENDERER", "1")
        // tauri-driver logs each refused connection while WebKitWebDriver starts, with a
        // backtrace unless told not to; the session is retried (webdriver.rs).
        .env("RUST_LIB_BACKTRACE", "0")
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        // Its own process group, so dropping the session ends WebKitWebDriver and the app.
        .process_group(0);
    for (k, v) in env {
        command.env(k, v);
    }
    let driver = command
        .spawn()
        .expect("tauri-driver runs (scripts/install-deps installs it with cargo)");
    let capabilities = json!({
        "capabilities": {"alwaysMatch": {
            "tauri:options": {"application": app},
        }}
    });
    Browser::session(driver, port, capabilities, config_home.to_path_buf()).await
}
