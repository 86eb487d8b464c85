//! Headless Chromium driven over WebDriver (Debian's `chromium` and `chromium-driver`), with
//! fake camera and microphone fed from files: the browser guest's side of the interop tests.
//!
//! The WebDriver client is a few JSON requests over HTTP/1.1 to chromedriver on loopback,
//! written here rather than pulled in as a crate: the tests need navigate, execute script and
//! quit, nothing more.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// What the fake devices play.
pub struct FakeDevices<'a> {
    /// A y4m file Chromium loops as its camera.
    pub video: &'a Path,
    /// A wav file Chromium loops as its microphone.
    pub audio: &'a Path,
}

/// A chromedriver process and one browser session, both ended when dropped.
pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
    _profile: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Browser {
    /// Starts chromedriver and a headless Chromium whose camera and microphone are the files.
    /// `origin` (like `http://10.77.1.1:8080`) is trusted as if it were https: browsers give
    /// the camera and microphone only to secure pages, and a test server has no certificate.
    pub async fn start(devices: &FakeDevices<'_>, origin: &str) -> Self {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver runs (Debian package chromium-driver; scripts/install-deps installs it)");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        for _ in 0..100 {
            if TcpStream::connect(addr).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile =
            std::env::temp_dir().join(format!("tincan-chromium-{}-{port}", std::process::id()));
        let args = vec![
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
            // Host candidates as addresses, not mDNS names: the native peer cannot resolve
            // .local names on a machine without an mDNS responder.
            "--disable-features=WebRtcHideLocalIpsWithMdns".to_owned(),
            "--autoplay-policy=no-user-gesture-required".to_owned(),
            format!("--unsafely-treat-insecure-origin-as-secure={origin}"),
        ];
        let capabilities = json!({
            "capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args},
            }}
        });
        let mut browser = Self {
            driver,
            addr,
            session: String::new(),
            _profile: profile,
        };
        let created = browser
            .request("POST", "/session", Some(capabilities))
            .await;
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

    /// Polls `script` until it returns something truthy, or panics with `what` after `timeout`.
    pub async fn wait_for(&self, what: &str, script: &str, timeout: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let value = self.execute(script, json!([])).await;
            let truthy = !(value.is_null() || value == json!(false) || value == json!(""));
            if truthy {
                return value;
            }
            if tokio::time::Instant::now() > deadline {
                let errors = self
                    .execute("return window.tincan?.errors", json!([]))
                    .await;
                panic!("the browser never got to: {what} (page errors: {errors})");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn quit(self) {
        let path = format!("/session/{}", self.session);
        self.request("DELETE", &path, None).await;
    }

    /// One WebDriver command; returns its `value`, panicking on a WebDriver error.
    async fn request(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut stream = TcpStream::connect(self.addr)
            .await
            .expect("chromedriver is listening");
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.addr,
            body.len()
        );
        stream
            .write_all(format!("{head}{body}").as_bytes())
            .await
            .expect("request written");
        // chromedriver keeps the connection open whatever the request says: read the head,
        // then exactly Content-Length bytes.
        let mut response = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        let (head_len, body_len) = loop {
            let n = stream.read(&mut chunk).await.expect("response read");
            assert!(
                n > 0,
                "chromedriver closed the connection during {method} {path}"
            );
            response.extend_from_slice(&chunk[..n]);
            let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
                continue;
            };
            let head = String::from_utf8_lossy(&response[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or_else(|| panic!("no Content-Length from chromedriver: {head}"));
            break (end + 4, length);
        };
        while response.len() < head_len + body_len {
            let n = stream.read(&mut chunk).await.expect("response read");
            assert!(
                n > 0,
                "chromedriver closed the connection during {method} {path}"
            );
            response.extend_from_slice(&chunk[..n]);
        }
        let text = String::from_utf8_lossy(&response[head_len..head_len + body_len]);
        let value: Value = serde_json::from_str(text.trim())
            .unwrap_or_else(|e| panic!("chromedriver answered {method} {path} with {text}: {e}"));
        if let Some(error) = value["value"]["error"].as_str() {
            panic!(
                "WebDriver {method} {path} failed: {error}: {}",
                value["value"]["message"]
            );
        }
        value["value"].clone()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.start_kill();
    }
}
