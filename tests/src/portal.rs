//! A Wayland-style desktop for screen sharing through the ScreenCast portal, on a test's own
//! D-Bus session and PipeWire: the real `xdg-desktop-portal` (the part apps talk to; it
//! hands out the PipeWire connection), `pipewire` and `wireplumber` (Debian packages), and
//! two stand-ins for the compositor: the portal's backend half
//! (`org.freedesktop.impl.portal.ScreenCast`, served here; a real one — -gnome, -kde, -wlr —
//! needs a compositor that renders on a GPU, which these machines lack) and the screen's
//! stream, a PipeWire video source showing a known picture (GStreamer's `pipewiresink`).
//! The backend "picks" that stream at once, as a person picking the screen would.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tincan_media::video::convert;
use tincan_media::VideoFrame;
use tokio::process::{Child, Command};
use zbus::zvariant::{ObjectPath, OwnedObjectPath, OwnedValue, Value};

use crate::screen::screen_of_text;

/// The bus name the backend stand-in takes, and the desktop name that selects it.
const BACKEND: &str = "org.tincan.TestScreenCastBackend";
const DESKTOP: &str = "tincan-test";
/// The stream's PipeWire node name.
const NODE_NAME: &str = "tincan-test-screen";

/// What the backend was asked, for the test to check.
#[derive(Debug, Default, Clone)]
pub struct Asked {
    pub sessions: usize,
    pub starts: usize,
    pub closed: usize,
}

struct Backend {
    node: Arc<Mutex<Option<u32>>>,
    size: (u32, u32),
    asked: Arc<Mutex<Asked>>,
}

type Results = HashMap<String, OwnedValue>;

#[zbus::interface(name = "org.freedesktop.impl.portal.ScreenCast")]
impl Backend {
    async fn create_session(
        &self,
        _handle: OwnedObjectPath,
        session_handle: OwnedObjectPath,
        _app_id: String,
        _options: Results,
        #[zbus(object_server)] server: &zbus::ObjectServer,
    ) -> (u32, Results) {
        let session = Session {
            asked: self.asked.clone(),
        };
        let served = server.at(session_handle.as_ref(), session).await;
        self.asked.lock().unwrap().sessions += 1;
        (u32::from(served.is_err()), Results::new())
    }

    async fn select_sources(
        &self,
        _handle: OwnedObjectPath,
        _session_handle: OwnedObjectPath,
        _app_id: String,
        _options: Results,
    ) -> (u32, Results) {
        (0, Results::new())
    }

    async fn start(
        &self,
        _handle: OwnedObjectPath,
        _session_handle: OwnedObjectPath,
        _app_id: String,
        _parent_window: String,
        _options: Results,
    ) -> (u32, Results) {
        self.asked.lock().unwrap().starts += 1;
        let Some(node) = *self.node.lock().unwrap() else {
            return (2, Results::new());
        };
        let (w, h) = (self.size.0 as i32, self.size.1 as i32);
        let mut properties: HashMap<&str, Value> = HashMap::new();
        properties.insert("size", Value::from((w, h)));
        properties.insert("source_type", Value::from(1u32));
        let streams = Value::new(vec![(node, properties)]);
        let mut results = Results::new();
        results.insert(
            "streams".into(),
            streams.try_to_owned().expect("an owned value"),
        );
        (0, results)
    }

    #[zbus(property)]
    fn available_source_types(&self) -> u32 {
        1 | 2
    }

    #[zbus(property)]
    fn available_cursor_modes(&self) -> u32 {
        1 | 2
    }

    #[zbus(property, name = "version")]
    fn version(&self) -> u32 {
        4
    }
}

struct Session {
    asked: Arc<Mutex<Asked>>,
}

#[zbus::interface(name = "org.freedesktop.impl.portal.Session")]
impl Session {
    async fn close(
        &self,
        #[zbus(object_server)] server: &zbus::ObjectServer,
        #[zbus(header)] header: zbus::message::Header<'_>,
    ) {
        self.asked.lock().unwrap().closed += 1;
        if let Some(path) = header.path() {
            let path: ObjectPath = path.to_owned();
            let _ = server.remove::<Session, _>(&path).await;
        }
    }

    #[zbus(property, name = "version")]
    fn version(&self) -> u32 {
        1
    }
}

/// The desktop: its processes end when it is dropped.
pub struct PortalDesktop {
    children: Vec<Child>,
    screen: Option<Child>,
    _backend: zbus::Connection,
    asked: Arc<Mutex<Asked>>,
    /// The session bus a sharing app is given (`DBUS_SESSION_BUS_ADDRESS`).
    pub dbus_address: String,
    runtime: PathBuf,
}

impl PortalDesktop {
    /// A desktop in `dir` whose screen (`width`×`height`) shows the page of text, and that
    /// page in I420, as a share of it should arrive.
    pub async fn start(dir: &Path, width: u32, height: u32) -> (Self, VideoFrame) {
        let shown = screen_of_text(width, height);
        let runtime = dir.join("run");
        let _ = std::fs::remove_dir_all(&runtime);
        std::fs::create_dir_all(&runtime).expect("a runtime directory");
        set_private(&runtime);
        let portals = dir.join("portals");
        std::fs::create_dir_all(&portals).expect("a portals directory");
        std::fs::write(
            portals.join("tincan-test.portal"),
            format!(
                "[portal]\nDBusName={BACKEND}\n\
                 Interfaces=org.freedesktop.impl.portal.ScreenCast;\nUseIn={DESKTOP}\n"
            ),
        )
        .expect("the portal description");
        let env: Vec<(&str, String)> = vec![
            ("XDG_RUNTIME_DIR", runtime.display().to_string()),
            ("XDG_DESKTOP_PORTAL_DIR", portals.display().to_string()),
            ("XDG_CURRENT_DESKTOP", DESKTOP.into()),
            ("XDG_SESSION_TYPE", "wayland".into()),
        ];
        // Each process's messages go to a log beside the test's files, for when it fails.
        let log = |program: &str| {
            let name = program.rsplit('/').next().unwrap_or(program);
            std::fs::File::create(dir.join(format!("{name}.log")))
                .map(Stdio::from)
                .unwrap_or_else(|_| Stdio::null())
        };
        let spawn = |program: &str, args: &[&str], env: &[(&str, String)], what: &str| {
            Command::new(program)
                .args(args)
                .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
                .env_remove("DISPLAY")
                .stdout(Stdio::null())
                .stderr(log(program))
                .kill_on_drop(true)
                .spawn()
                .unwrap_or_else(|e| panic!("{program} runs (Debian package {what}): {e}"))
        };
        let bus = runtime.join("bus");
        let dbus_address = format!("unix:path={}", bus.display());
        let mut children = vec![spawn(
            "dbus-daemon",
            &["--session", "--nofork", "--address", &dbus_address],
            &env,
            "dbus",
        )];
        wait_for_path(&bus, "the D-Bus session's socket").await;
        let mut env = env;
        env.push(("DBUS_SESSION_BUS_ADDRESS", dbus_address.clone()));
        children.push(spawn("pipewire", &[], &env, "pipewire"));
        wait_for_path(&runtime.join("pipewire-0"), "PipeWire's socket").await;
        let mut wp_env = env.clone();
        wp_env.push(("WIREPLUMBER_DEBUG", "3".into()));
        children.push(spawn("wireplumber", &[], &wp_env, "wireplumber"));

        let node = Arc::new(Mutex::new(None));
        let asked = Arc::new(Mutex::new(Asked::default()));
        let backend = Backend {
            node: node.clone(),
            size: (width, height),
            asked: asked.clone(),
        };
        let backend = zbus::connection::Builder::address(dbus_address.as_str())
            .and_then(|b| b.name(BACKEND))
            .and_then(|b| b.serve_at("/org/freedesktop/portal/desktop", backend))
            .expect("the backend's description")
            .build()
            .await
            .expect("the ScreenCast backend on the test's D-Bus session");
        children.push(spawn(
            "/usr/libexec/xdg-desktop-portal",
            &["--replace"],
            &env,
            "xdg-desktop-portal",
        ));
        wait_for_name(&backend, "org.freedesktop.portal.Desktop").await;

        let picture = dir.join("screen.bgrx");
        let mut bgrx = Vec::with_capacity(shown.len() / 3 * 4);
        for rgb in shown.chunks_exact(3) {
            bgrx.extend_from_slice(&[rgb[2], rgb[1], rgb[0], 255]);
        }
        std::fs::write(&picture, bgrx).expect("the screen's picture");
        let screen = Command::new("gst-launch-1.0")
            .args(["-q", "filesrc"])
            .arg(format!("location={}", picture.display()))
            .args(["!", "rawvideoparse", "format=bgrx"])
            .arg(format!("width={width}"))
            .arg(format!("height={height}"))
            .args([
                "framerate=10/1",
                "!",
                "imagefreeze",
                "!",
                "video/x-raw,framerate=10/1",
            ])
            .args(["!", "pipewiresink"])
            .args(["mode=provide", &format!("client-name={NODE_NAME}")])
            .arg("stream-properties=props,media.class=Video/Source")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("gst-launch-1.0 runs (Debian gstreamer1.0-tools, -pipewire)");
        *node.lock().unwrap() = Some(find_node(&env).await);
        let expected = convert::rgb_to_i420(&shown, width, height, 0).expect("the shown picture");
        let desktop = Self {
            children,
            screen: Some(screen),
            _backend: backend,
            asked,
            dbus_address,
            runtime,
        };
        (desktop, expected)
    }

    /// The environment a sharing app needs: the session bus (the portal's fd carries
    /// PipeWire).
    pub fn env(&self) -> Vec<(&str, String)> {
        vec![
            ("DBUS_SESSION_BUS_ADDRESS", self.dbus_address.clone()),
            ("XDG_RUNTIME_DIR", self.runtime.display().to_string()),
        ]
    }

    /// Ends the screen's stream, as the compositor does when a shared window closes.
    pub async fn end_the_stream(&mut self) {
        if let Some(mut screen) = self.screen.take() {
            let _ = screen.kill().await;
        }
    }

    pub fn asked(&self) -> Asked {
        self.asked.lock().unwrap().clone()
    }
}

impl Drop for PortalDesktop {
    fn drop(&mut self) {
        if let Some(screen) = self.screen.as_mut() {
            let _ = screen.start_kill();
        }
        for child in self.children.iter_mut().rev() {
            let _ = child.start_kill();
        }
    }
}

fn set_private(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .expect("the runtime directory made private");
}

async fn wait_for_path(path: &Path, what: &str) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no {what} within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_for_name(connection: &zbus::Connection, name: &str) {
    let dbus = zbus::fdo::DBusProxy::new(connection)
        .await
        .expect("the bus's own proxy");
    let start = Instant::now();
    loop {
        let name = zbus::names::BusName::try_from(name).expect("a bus name");
        if dbus.name_has_owner(name).await.unwrap_or(false) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "xdg-desktop-portal did not take its name within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The PipeWire node id of the screen's stream, once it is there (`pw-dump`'s JSON).
async fn find_node(env: &[(&str, String)]) -> u32 {
    let start = Instant::now();
    loop {
        let out = Command::new("pw-dump")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .await
            .expect("pw-dump runs (Debian package pipewire-bin)");
        let objects: Vec<serde_json::Value> =
            serde_json::from_slice(&out.stdout).unwrap_or_default();
        let found = objects.iter().find(|o| {
            o["type"] == "PipeWire:Interface:Node" && o["info"]["props"]["node.name"] == NODE_NAME
        });
        if let Some(id) = found.and_then(|o| o["id"].as_u64()) {
            return id as u32;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the screen's PipeWire stream did not appear within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
