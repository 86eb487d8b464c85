//! Headless Chromium driven over WebDriver (Debian's `chromium` and `chromium-driver`), with
//! fake camera and microphone fed from files: the browser guest's side of the interop tests.
//!
//! The WebDriver client is a few JSON requests over HTTP/1.1 to chromedriver on loopback,
//! written here rather than pulled in as a crate: the tests need navigate, execute script, keys,
//! a file chosen and quit, nothing more.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// The key WebDriver names an element by in its answers (the W3C spec's constant).
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A stamped 640x360 clip (10 s, looped by Chromium) and 30 s of a `hz` tone in `dir`, for
/// [`FakeDevices`].
pub fn fake_device_files(dir: &Path, hz: f64) -> (PathBuf, PathBuf) {
    use tincan_media::audio::{AudioSink, AudioSource, ToneSource, WavSink};
    let video = dir.join("camera.y4m");
    let audio = dir.join("microphone.wav");
    let format = tincan_media::video::VideoFormat {
        width: 640,
        height: 360,
        fps: 30,
    };
    crate::write_stamped_clip(&video, format, 300);
    // 30 s: Chromium plays the file from when the page opens the microphone, once.
    let mut tone = ToneSource::tone(hz);
    let mut wav = WavSink::create(&audio).expect("a writable temp dir");
    for _ in 0..1500 {
        let frame = tone.read().ok().flatten().expect("a tone never ends");
        wav.write(&frame).expect("a writable temp dir");
    }
    wav.finish().expect("a writable temp dir");
    (video, audio)
}

/// What the fake devices play.
pub struct FakeDevices<'a> {
    /// A y4m file Chromium loops as its camera.
    pub video: &'a Path,
    /// A wav file Chromium loops as its microphone.
    pub audio: &'a Path,
}

/// What [`Browser::try_request`] says when the driver closed the connection without a byte.
const NOTHING_BACK: &str = "the driver closed the connection without answering";

/// A chromedriver process and one browser session, both ended when dropped.
pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
    /// A scratch directory of the browser's own (Chromium's profile), removed with it.
    scratch: Option<PathBuf>,
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// WebDriver's code for the Control key, for [`Browser::press`].
pub const CONTROL: &str = "\u{E009}";
/// WebDriver's code for the Shift key, for [`Browser::press`].
pub const SHIFT: &str = "\u{E008}";

impl Browser {
    /// Starts chromedriver and a headless Chromium whose camera and microphone are the files.
    /// `origin` (like `http://10.77.1.1:8080`) is trusted as if it were https: browsers give
    /// the camera and microphone only to secure pages, and a test server has no certificate.
    pub async fn start(devices: &FakeDevices<'_>, origin: &str) -> Self {
        Self::start_with(devices, origin, false).await
    }

    /// [`Browser::start`], with Chromium's default of hiding host addresses behind mDNS names
    /// (`….local`) when `hide_host_addresses` (the tests otherwise turn it off, to control
    /// what they measure).
    pub async fn start_with(
        devices: &FakeDevices<'_>,
        origin: &str,
        hide_host_addresses: bool,
    ) -> Self {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver runs (Debian package chromium-driver; scripts/install-deps installs it)");
        let profile =
            std::env::temp_dir().join(format!("tincan-chromium-{}-{port}", std::process::id()));
        let mut args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-quic".to_owned(),
            format!("--user-data-dir={}", profile.display()),
            "--use-fake-ui-for-media-stream".to_owned(),
            "--use-fake-device-for-media-stream".to_owned(),
            format!(
                "--use-file-for-fake-video-capture={}",
                devices.video.display()
            ),
            format!(
                "--use-file-for-fake-audio-capture={}",
                devices.audio.display()
            ),
            "--autoplay-policy=no-user-gesture-required".to_owned(),
            // getDisplayMedia picks the whole screen without asking (the guest's share).
            "--auto-select-desktop-capture-source=Entire screen".to_owned(),
            format!("--unsafely-treat-insecure-origin-as-secure={origin}"),
        ];
        if !hide_host_addresses {
            // Host candidates as addresses, not mDNS names.
            args.push("--disable-features=WebRtcHideLocalIpsWithMdns".to_owned());
        }
        let capabilities = json!({
            "capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args},
            }}
        });
        Self::session(driver, port, capabilities, Some(profile)).await
    }

    /// A session on a WebDriver server already started as `driver` on loopback `port`
    /// (chromedriver, or tauri-driver for the desktop app), created with `capabilities`.
    /// `scratch` is removed with the session's files when it ends.
    /// A WebDriver session on the driver listening on `port`. `scratch`, when given, is
    /// removed when the session ends.
    pub async fn session(
        driver: Child,
        port: u16,
        capabilities: Value,
        scratch: Option<PathBuf>,
    ) -> Self {
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let mut browser = Self {
            driver,
            addr,
            session: String::new(),
            scratch,
        };
        // Listening is not ready: tauri-driver listens before the driver behind it does,
        // and drops the first requests until then.
        let mut tries = 0;
        let created = loop {
            match browser
                .try_request("POST", "/session", Some(capabilities.clone()))
                .await
            {
                Ok(created) => break created,
                Err(_) if tries < 100 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("no WebDriver session after 10 s: {e}"),
            }
        };
        browser.session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {created}"))
            .to_owned();
        browser
    }

    pub async fn navigate(&self, url: &str) {
        let path = format!("/session/{}/url", self.session);
        self.request("POST", &path, Some(json!({ "url": url })))
            .await;
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns its value. An
    /// async body's promise is awaited.
    pub async fn execute(&self, script: &str, args: Value) -> Value {
        let path = format!("/session/{}/execute/sync", self.session);
        let wrapped = format!("return (async () => {{ {script} }})()");
        let body = json!({ "script": wrapped, "args": args });
        self.request("POST", &path, Some(body)).await
    }

    /// On the guest page: joins as "Chromium" with its audio processing off (a fake
    /// microphone's steady tone is "noise" to it), and returns its peer id once in the call.
    pub async fn join_as_guest(&self) -> String {
        self.execute(
            "await window.tincan.setAudioProcessing(false);
             document.getElementById('name').value = 'Chromium';
             document.getElementById('join').click(); return true",
            json!([]),
        )
        .await;
        self.wait_for(
            "Chromium in the call",
            "return window.tincan.state === 'in-call' && window.tincan.me",
            Duration::from_secs(15),
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// Polls `script` until it returns something truthy, or panics with `what` after `timeout`.
    /// A script may say where things stand while it waits by returning `{"waiting": …}`: the
    /// last such answer is in the panic's message.
    pub async fn wait_for(&self, what: &str, script: &str, timeout: Duration) -> Value {
        match self.try_wait_for(what, script, timeout).await {
            Ok(value) => value,
            Err(why) => panic!("{why}"),
        }
    }

    /// [`Browser::wait_for`] that hands back why it gave up instead of panicking, for a test
    /// that gathers more before it fails.
    pub async fn try_wait_for(
        &self,
        what: &str,
        script: &str,
        timeout: Duration,
    ) -> Result<Value, String> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut last = Value::Null;
        loop {
            let value = self.execute(script, json!([])).await;
            let waiting = value.get("waiting").is_some();
            let truthy =
                !(value.is_null() || value == json!(false) || value == json!("") || waiting);
            if truthy {
                return Ok(value);
            }
            if waiting {
                last = value;
            }
            if tokio::time::Instant::now() > deadline {
                let errors = self
                    .execute("return window.tincan?.errors", json!([]))
                    .await;
                // Where it stood instead (the guest page's reading of each connection).
                let stats = self
                    .execute("return (await window.tincan?.stats?.()) ?? null", json!([]))
                    .await;
                return Err(format!(
                    "the browser never got to: {what} (page errors: {errors}; its stats now: \
                     {stats}; last while waiting: {last})"
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Presses a chord on the keyboard as a person would (WebDriver actions): `keys` go down
    /// in order and come up in reverse. Modifiers are WebDriver's key codes ([`CONTROL`],
    /// [`SHIFT`]).
    pub async fn press(&self, keys: &[&str]) {
        let mut actions: Vec<Value> = keys
            .iter()
            .map(|k| json!({"type": "keyDown", "value": k}))
            .collect();
        actions.extend(
            keys.iter()
                .rev()
                .map(|k| json!({"type": "keyUp", "value": k})),
        );
        let path = format!("/session/{}/actions", self.session);
        let body = json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]});
        self.request("POST", &path, Some(body)).await;
    }

    /// Puts `key` down and leaves it there (WebDriver keeps it pressed between actions) until
    /// [`Browser::key_up`]: a key held while the test looks at the page.
    pub async fn key_down(&self, key: &str) {
        self.key_action("keyDown", key).await;
    }

    /// Lets go of a key [`Browser::key_down`] pressed.
    pub async fn key_up(&self, key: &str) {
        self.key_action("keyUp", key).await;
    }

    async fn key_action(&self, action: &str, key: &str) {
        let path = format!("/session/{}/actions", self.session);
        let body = json!({"actions": [{"type": "key", "id": "keyboard",
                                       "actions": [{"type": action, "value": key}]}]});
        self.request("POST", &path, Some(body)).await;
    }

    /// Picks `file` in the file input `css` finds, as a person choosing it in the file dialog
    /// would (WebDriver's Element Send Keys on an `<input type=file>`): its `change` fires.
    pub async fn choose_file(&self, css: &str, file: &Path) {
        let element = self.element(css).await;
        let path = format!("/session/{}/element/{element}/value", self.session);
        let text = file.to_str().expect("a file path in UTF-8");
        self.request("POST", &path, Some(json!({ "text": text })))
            .await;
    }

    /// Clicks what `css` finds as a person would (WebDriver's Element Click): unlike a
    /// script's `click()`, it counts as the person's gesture, which some APIs need
    /// (`getDisplayMedia`).
    pub async fn click(&self, css: &str) {
        let element = self.element(css).await;
        let path = format!("/session/{}/element/{element}/click", self.session);
        self.request("POST", &path, Some(json!({}))).await;
    }

    /// The WebDriver reference of the element `css` finds.
    async fn element(&self, css: &str) -> String {
        let path = format!("/session/{}/element", self.session);
        let found = self
            .request(
                "POST",
                &path,
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        found[ELEMENT_KEY]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_owned()
    }

    /// Resizes the window (WebDriver's Set Window Rect); returns the rect it got.
    pub async fn set_window_size(&self, width: u32, height: u32) -> Value {
        let path = format!("/session/{}/window/rect", self.session);
        let body = json!({"width": width, "height": height});
        self.request("POST", &path, Some(body)).await
    }

    pub async fn quit(self) {
        let path = format!("/session/{}", self.session);
        self.request("DELETE", &path, None).await;
    }

    /// One WebDriver command; returns its `value`, panicking on a WebDriver error.
    async fn request(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let mut tries = 0;
        loop {
            match self.try_request(method, path, body.clone()).await {
                Ok(value) => return value,
                // tauri-driver forwards each request over a kept-alive connection to
                // WebKitWebDriver, which closes idle ones: a request that meets a connection
                // just closed is never delivered, and tauri-driver drops ours with no answer.
                // Nothing was done, so sending it again is safe.
                Err(e) if e == NOTHING_BACK && tries < 3 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("WebDriver {method} {path}: {e}"),
            }
        }
    }

    /// One WebDriver command; its `value`, or why there is none (the connection closed, or
    /// a WebDriver error).
    async fn try_request(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut stream = TcpStream::connect(self.addr)
            .await
            .map_err(|e| format!("the driver is not listening: {e}"))?;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.addr,
            body.len()
        );
        stream
            .write_all(format!("{head}{body}").as_bytes())
            .await
            .map_err(|e| format!("cannot send: {e}"))?;
        // chromedriver keeps the connection open whatever the request says: read the head,
        // then exactly Content-Length bytes.
        let closed = || "the driver closed the connection".to_owned();
        let nothing_back = || NOTHING_BACK.to_owned();
        let mut response = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        let (head_len, body_len) = loop {
            let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
            if n == 0 && response.is_empty() {
                return Err(nothing_back());
            }
            if n == 0 {
                return Err(closed());
            }
            response.extend_from_slice(&chunk[..n]);
            let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let head = String::from_utf8_lossy(&response[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or_else(|| format!("no Content-Length in {head}"))?;
            break (end + 4, length);
        };
        while response.len() < head_len + body_len {
            let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Err(closed());
            }
            response.extend_from_slice(&chunk[..n]);
        }
        let text = String::from_utf8_lossy(&response[head_len..head_len + body_len]);
        let value: Value =
            serde_json::from_str(text.trim()).map_err(|e| format!("answered {text}: {e}"))?;
        if let Some(error) = value["value"]["error"].as_str() {
            return Err(format!("{error}: {}", value["value"]["message"]));
        }
        Ok(value["value"].clone())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The driver was started in a process group of its own: end the browser or app it
        // started too, not only the driver.
        if let Some(pid) = self.driver.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .status();
        }
        let _ = self.driver.start_kill();
        if let Some(dir) = &self.scratch {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
