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
    /// A screen the size of the app's window (1100x720).
    pub async fn start() -> Self {
        Self::start_sized(1100, 720).await
    }

    pub async fn start_sized(width: u32, height: u32) -> Self {
        // Xvfb picks a free display itself and writes its number to stdout (-displayfd 1).
        let size = format!("{width}x{height}x24");
        let mut xvfb = Command::new("Xvfb")
            .args(["-displayfd", "1", "-screen", "0", &size, "-nolisten", "tcp"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("Xvfb runs (Debian package xvfb; scripts/install-deps installs it)");
        let number = read_line(xvfb.stdout.take().expect("piped")).await;
        assert!(!number.is_empty(), "Xvfb gave no display number");
        let display = format!(":{number}");
        let mut dbus = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("dbus-daemon runs (Debian package dbus)");
        let dbus_address = read_line(dbus.stdout.take().expect("piped")).await;
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

impl Desktop {
    /// Shows the picture at `path` (any format ImageMagick reads) on the whole screen, as
    /// the root window's background. (ImageMagick's `display` exits with 1 after doing so on
    /// a screen without a window manager, so its status says nothing: what the screen shows
    /// is for the caller to check.)
    pub fn show_picture(&self, path: &Path) {
        std::process::Command::new("display")
            .args(["-display", &self.display, "-window", "root"])
            .arg(path)
            .status()
            .expect("display runs (Debian package imagemagick)");
    }

    /// Answers the system's file chooser titled `title` (GTK's, opened by the app) with
    /// `file`, as a person typing its path would: the location field (Ctrl+L), the path,
    /// Enter. xdotool (Debian `xdotool`) types into the focused window through XTEST.
    pub async fn choose_in_file_dialog(&self, title: &str, file: &Path) {
        let xdotool = |args: &[&str]| {
            let out = std::process::Command::new("xdotool")
                .args(args)
                .env("DISPLAY", &self.display)
                .output()
                .expect("xdotool runs (Debian package xdotool; scripts/install-deps installs it)");
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        };
        let start = std::time::Instant::now();
        let window = loop {
            let found = xdotool(&["search", "--onlyvisible", "--name", title]);
            if let Some(id) = found.lines().next().filter(|l| !l.is_empty()) {
                break id.to_owned();
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "no file chooser titled {title:?} within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        // The chooser fills itself in after it maps; typing before that is lost.
        tokio::time::sleep(Duration::from_millis(700)).await;
        let path = file.to_str().expect("a UTF-8 path");
        xdotool(&["windowfocus", "--sync", &window]);
        xdotool(&["key", "--window", &window, "ctrl+l"]);
        tokio::time::sleep(Duration::from_millis(300)).await;
        xdotool(&["type", "--delay", "10", path]);
        tokio::time::sleep(Duration::from_millis(300)).await;
        xdotool(&["key", "Return"]);
    }
}

/// The first line `out` writes (trimmed), waiting up to 10 s; empty if none came.
async fn read_line(out: tokio::process::ChildStdout) -> String {
    use tokio::io::AsyncBufReadExt;
    let mut line = String::new();
    let mut reader = tokio::io::BufReader::new(out);
    let _ = tokio::time::timeout(Duration::from_secs(10), reader.read_line(&mut line)).await;
    line.trim().to_owned()
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
        // No GPU here: the app itself keeps OpenGL out of its process, as for any user
        // without one (src-tauri/src/no_gpu.rs).
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
    // The config directory is the test's: it reads the settings the app wrote.
    Browser::session(driver, port, capabilities, None).await
}

/// Steps on the app's page shared by its test and its benchmark.
pub mod page {
    use std::time::Duration;

    use serde_json::{json, Value};

    use crate::webdriver::Browser;

    /// Clicks the element with `id`.
    pub async fn click(app: &Browser, id: &str) {
        app.execute(
            &format!("document.getElementById({id:?}).click(); return true"),
            json!([]),
        )
        .await;
    }

    /// Sets a form control's value as a person picking it would (input and change events).
    pub async fn set_value(app: &Browser, id: &str, value: &str) {
        app.execute(
            &format!(
                "const e = document.getElementById({id:?}); e.value = {value:?};
                 e.dispatchEvent(new Event('input', {{ bubbles: true }}));
                 e.dispatchEvent(new Event('change', {{ bubbles: true }}));
                 return e.value"
            ),
            json!([]),
        )
        .await;
    }

    pub async fn wait_for_home(app: &Browser) {
        app.wait_for(
            "the home screen",
            "return window.tincan && window.tincan.settings && window.tincan.screen === 'home'",
            Duration::from_secs(30),
        )
        .await;
    }

    /// Waits until the page is in a call; returns what the app said on joining (room, me,
    /// share_link).
    pub async fn wait_for_call(app: &Browser) -> Value {
        app.wait_for(
            "joining the room",
            "return window.tincan.screen === 'call' && window.tincan.joined",
            Duration::from_secs(20),
        )
        .await
    }

    /// From the home screen, starts a new call with the test pattern for a camera (the
    /// pre-join screen's choice), and waits until the page is in it; returns what
    /// [`wait_for_call`] returns.
    pub async fn start_a_call_with_the_pattern(app: &Browser) -> Value {
        click(app, "create").await;
        app.wait_for(
            "the pre-join screen",
            "return window.tincan.screen === 'prejoin' && document.getElementById('camera').options.length > 0",
            Duration::from_secs(10),
        )
        .await;
        set_value(app, "camera", "pattern").await;
        click(app, "join").await;
        wait_for_call(app).await
    }

    /// The signaling server the app calls through (its built-in one unless configured).
    pub async fn server_address(app: &Browser) -> String {
        app.execute(
            "return await window.__TAURI__.core.invoke('server_address')",
            json!([]),
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }
}
