//! A `tincan-cli call` process as a peer: started in a room (or creating one), and its JSON
//! summary read back when it ends.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::netns::Namespace;
use crate::wine::Wine;
use crate::ServerProcess;

pub struct CliPeer {
    child: Child,
    stats: PathBuf,
    /// The room it is in (the code it created, or the one it joined).
    pub room: String,
    /// Its peer id.
    pub id: String,
    /// What it has printed, a line each ("hosting …", "left PEER", "chat …").
    printed: Arc<Mutex<Vec<String>>>,
}

/// What a peer does: join a room, create one, ring a person into a new one, or listen for
/// rings and answer them (`accept`, `decline`, `busy` or `none`).
#[derive(Debug, Clone, Copy)]
pub enum Role<'a> {
    Join(&'a str),
    Create,
    Ring(&'a str),
    Listen(&'a str),
}

impl<'a> Role<'a> {
    /// Joining `room`, or creating one when None.
    fn for_room(room: Option<&'a str>) -> Self {
        room.map_or(Role::Create, Role::Join)
    }
}

/// Where a peer runs: which address its media binds to, and in which network namespace.
#[derive(Default)]
pub struct Place<'a> {
    /// Local media address; loopback when None.
    pub bind: Option<&'a str>,
    pub netns: Option<&'a dyn Namespace>,
    /// Environment it gets on top of the test's (a desktop's session bus, say).
    pub env: &'a [(&'a str, String)],
}

impl CliPeer {
    /// Starts `tincan-cli call` on loopback, writing its summary into `dir`; `room` None
    /// creates one. Returns once the peer has joined.
    pub async fn start(
        server: &ServerProcess,
        dir: &Path,
        name: &str,
        room: Option<&str>,
        extra: &[&str],
    ) -> Self {
        Self::start_at(server, &Place::default(), dir, name, room, extra).await
    }

    /// [`CliPeer::start`], at `place`.
    pub async fn start_at(
        server: &ServerProcess,
        place: &Place<'_>,
        dir: &Path,
        name: &str,
        room: Option<&str>,
        extra: &[&str],
    ) -> Self {
        let server = server.addr.to_string();
        Self::start_with_server(Some(&server), place, dir, name, room, extra).await
    }

    /// [`CliPeer::start_at`] with a server this test did not start (the app's built-in one),
    /// by its address; with None, the peer hosts the room it creates, or looks for the room
    /// it joins on the LAN.
    pub async fn start_with_server(
        server: Option<&str>,
        place: &Place<'_>,
        dir: &Path,
        name: &str,
        room: Option<&str>,
        extra: &[&str],
    ) -> Self {
        let role = Role::for_room(room);
        Self::start_as(server, place, None, dir, name, role, extra).await
    }

    /// [`CliPeer::start`] with the Windows build, `tincan-cli.exe`, run by `wine`.
    pub async fn start_under_wine(
        server: &ServerProcess,
        wine: &Wine,
        dir: &Path,
        name: &str,
        room: Option<&str>,
        extra: &[&str],
    ) -> Self {
        let server = server.addr.to_string();
        let role = Role::for_room(room);
        Self::start_as(
            Some(&server),
            &Place::default(),
            Some(wine),
            dir,
            name,
            role,
            extra,
        )
        .await
    }

    /// A peer in `role`, on loopback: returns once it has joined its room, or for
    /// [`Role::Listen`], once it is registered (its code is [`CliPeer::code`]).
    pub async fn start_in_role(
        server: &ServerProcess,
        dir: &Path,
        name: &str,
        role: Role<'_>,
        extra: &[&str],
    ) -> Self {
        let server = server.addr.to_string();
        Self::start_as(
            Some(&server),
            &Place::default(),
            None,
            dir,
            name,
            role,
            extra,
        )
        .await
    }

    /// [`CliPeer::start_in_role`] with a server this test did not start (the app's built-in
    /// one), by its address.
    pub async fn start_role_with_server(
        server: &str,
        dir: &Path,
        name: &str,
        role: Role<'_>,
        extra: &[&str],
    ) -> Self {
        Self::start_as(
            Some(server),
            &Place::default(),
            None,
            dir,
            name,
            role,
            extra,
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn start_as(
        server: Option<&str>,
        place: &Place<'_>,
        wine: Option<&Wine>,
        dir: &Path,
        name: &str,
        role: Role<'_>,
        extra: &[&str],
    ) -> Self {
        let stats = dir.join(format!("{name}.json"));
        // What runs: the Linux build, or the Windows one under Wine (its paths, the
        // summary's, are Linux ones: Wine's Z: drive is the root).
        let mut program: Vec<std::ffi::OsString> = match wine {
            None => vec![crate::binary("tincan-cli").into()],
            Some(_) => vec![
                "wine".into(),
                crate::wine::windows_binary("tincan-cli").into(),
            ],
        };
        // Where: inside the namespace, if any.
        if let Some(netns) = place.netns {
            let prefix = netns.exec_prefix().into_iter().map(Into::into);
            program = prefix.chain(program).collect();
        }
        let mut command = Command::new(&program[0]);
        command.args(&program[1..]);
        if let Some(wine) = wine {
            command.envs(wine.env());
        }
        let subcommand = match role {
            Role::Listen(_) => "listen",
            _ => "call",
        };
        command
            .arg(subcommand)
            .args(server.map(|s| ["--server", s]).into_iter().flatten())
            .args([
                "--name",
                name,
                "--bind",
                place.bind.unwrap_or("127.0.0.1:0"),
            ])
            .args(["--stats-json", stats.to_str().expect("a UTF-8 temp path")])
            .args(extra)
            .envs(place.env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        match role {
            Role::Join(code) => command.args(["--room", code]),
            Role::Create => command.arg("--create"),
            Role::Ring(code) => command.args(["--ring", code]),
            Role::Listen(answer) => command.args(["--answer", answer]),
        };
        // Ready when it has joined its room, or for a listener, when it has its code.
        let ready = match role {
            Role::Listen(_) => "code ",
            _ => "peer ",
        };
        let mut child = command.spawn().expect("tincan-cli starts");
        let printed = Arc::new(Mutex::new(Vec::new()));
        // What it says on stderr (errors, warnings) is passed on to the test's and kept, so
        // a test can look for an error it should have told. A message repeated per packet
        // (a write to a cut link) is passed on a few times and then counted, so that what a
        // failing test panicked with stays in sight of the output's end.
        let mut errors = BufReader::new(child.stderr.take().expect("piped stderr")).lines();
        let said = Arc::clone(&printed);
        let name_of_peer = name.to_owned();
        tokio::spawn(async move {
            let mut echo = Repeats::default();
            while let Ok(Some(line)) = errors.next_line().await {
                if echo.passes(&line) {
                    eprintln!("{line}");
                }
                said.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            }
            echo.report(&name_of_peer);
        });
        let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let (mut room, mut id) = (String::new(), String::new());
        let mut before = Vec::new();
        loop {
            let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
                .await
                .expect("the peer joins within 20 s")
                .expect("stdout readable")
                .unwrap_or_else(|| panic!("{name} exited before joining"));
            if let Some(code) = line.strip_prefix("room ") {
                room = code.to_owned();
            }
            if let Some(peer) = line.strip_prefix("peer ") {
                id = peer.to_owned();
            }
            let done = line.starts_with(ready);
            before.push(line);
            if done {
                break;
            }
        }
        printed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(before);
        let keep = printed.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                keep.lock().unwrap_or_else(|p| p.into_inner()).push(line);
            }
        });
        Self {
            child,
            stats,
            room,
            id,
            printed,
        }
    }

    /// Waits up to `within` for the peer to print `line` (alone, or followed by a space and
    /// more words); false if it did not.
    pub async fn printed(&self, line: &str, within: Duration) -> bool {
        self.waits_for_a_line(within, |l| {
            l.strip_prefix(line)
                .is_some_and(|r| r.is_empty() || r.starts_with(' '))
        })
        .await
    }

    /// Waits up to `within` for a line (on stdout or stderr) holding `text`.
    pub async fn said(&self, text: &str, within: Duration) -> bool {
        self.waits_for_a_line(within, |l| l.contains(text)).await
    }

    async fn waits_for_a_line(&self, within: Duration, wanted: impl Fn(&str) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let seen = self
                .printed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .any(|l| wanted(l));
            if seen {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The rest of the first line it printed that starts with `prefix` and a space.
    pub fn printed_after(&self, prefix: &str) -> Option<String> {
        self.printed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find_map(|l| l.strip_prefix(prefix)?.strip_prefix(' ').map(str::to_owned))
    }

    /// Kills it with SIGKILL, as in a crash: it says goodbye to nobody.
    pub fn kill(&mut self) {
        let _ = self.child.start_kill();
    }

    /// Waits for the peer to end (successfully) and returns its summary.
    pub async fn finish(self) -> Value {
        let (code, summary) = self.exit().await;
        assert_eq!(code, Some(0), "tincan-cli exited with {code:?}");
        summary.expect("the summary was written")
    }

    /// Waits for the peer to end; its exit code, and its summary if it wrote one.
    pub async fn exit(mut self) -> (Option<i32>, Option<Value>) {
        let status = tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .expect("the peer ends")
            .expect("waitable");
        let summary = std::fs::read_to_string(&self.stats)
            .ok()
            .map(|text| serde_json::from_str(&text).expect("the summary is JSON"));
        (status.code(), summary)
    }

    /// Its process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Its personal code (`code …`, printed by a listener and by a peer that rings).
    pub fn code(&self) -> Option<String> {
        self.printed_after("code")
    }
}

/// The summary `of` wrote about the peer with id `about`.
pub fn about<'a>(of: &'a Value, about: &str) -> &'a Value {
    of["peers"]
        .as_array()
        .and_then(|peers| peers.iter().find(|p| p["peer_id"] == about))
        .unwrap_or_else(|| panic!("no stats about {about} in {of:#}"))
}

/// Counts lines that differ only in their numbers (times, addresses, ports): the first
/// [`Repeats::SHOWN`] of each kind pass, the rest are only counted.
#[derive(Default)]
struct Repeats {
    seen: std::collections::HashMap<String, u64>,
}

impl Repeats {
    const SHOWN: u64 = 3;

    fn passes(&mut self, line: &str) -> bool {
        let kind: String = line.chars().filter(|c| !c.is_ascii_digit()).collect();
        let count = self.seen.entry(kind).or_default();
        *count += 1;
        *count <= Self::SHOWN
    }

    fn report(&self, peer: &str) {
        let hidden: u64 = self
            .seen
            .values()
            .map(|n| n.saturating_sub(Self::SHOWN))
            .sum();
        if hidden > 0 {
            eprintln!("({peer} said {hidden} more lines like those above; not shown)");
        }
    }
}
