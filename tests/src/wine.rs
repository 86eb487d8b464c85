//! Windows builds of Tincan run under Wine: a prefix of the test's own (a private `C:` drive
//! and registry), and where `scripts/build-windows` put the `.exe` files.
//!
//! Under Wine a Windows program reaches the same loopback network and, through Wine's
//! PulseAudio driver, the same virtual sound devices as the test (scripts/virtual-audio.sh),
//! so `tincan-cli.exe` can be in a call with Linux peers as it would be with a peer elsewhere.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A Wine prefix for one test, removed (and its `wineserver` stopped) when dropped.
pub struct Wine {
    prefix: PathBuf,
}

/// The stand-in for `bcryptprimitives.dll`, which Wine 8 lacks (the file says why).
const PRNG_SHIM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/wine/bcryptprimitives.c");

/// How long a first `wineboot` may take (it writes the prefix's registry and `C:` drive:
/// about 6 s here).
const BOOT_WITHIN: Duration = Duration::from_secs(120);

impl Wine {
    /// A new prefix under `dir`, booted, with the shim Wine 8 needs to start Rust programs.
    pub fn start(dir: &Path) -> Self {
        let wine = Self {
            prefix: dir.join("wine-prefix"),
        };
        let started = Instant::now();
        let status = wine
            .command("wineboot")
            .arg("--init")
            .status()
            .expect("wine runs (scripts/install-deps --windows installs wine64)");
        assert!(status.success(), "wineboot --init failed: {status}");
        println!(
            "wine: prefix ready in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        assert!(
            started.elapsed() < BOOT_WITHIN,
            "wineboot took {:?}",
            started.elapsed()
        );
        let system32 = wine.prefix.join("drive_c/windows/system32");
        let status = Command::new("x86_64-w64-mingw32-gcc")
            .args(["-O2", "-shared", "-o"])
            .arg(system32.join("bcryptprimitives.dll"))
            .arg(PRNG_SHIM)
            .arg("-ladvapi32")
            .status()
            .expect("the MinGW C compiler runs (scripts/install-deps --windows installs it)");
        assert!(status.success(), "building the ProcessPrng shim failed");
        wine
    }

    /// What a program run in this prefix gets in its environment: the prefix, no Wine debug
    /// chatter, and no offer to install Mono or Gecko (nothing here uses .NET or MSHTML).
    pub fn env(&self) -> Vec<(&'static str, OsString)> {
        vec![
            ("WINEPREFIX", self.prefix.clone().into_os_string()),
            ("WINEDEBUG", "-all".into()),
            ("WINEDLLOVERRIDES", "mscoree,mshtml=".into()),
        ]
    }

    /// `wine PROGRAM` in this prefix (PROGRAM a path to a `.exe`, or a Wine program's name).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("wine");
        command.arg(program).envs(self.env());
        command
    }
}

impl Wine {
    /// Ends every program in the prefix and its `wineserver`. The next program starts a new
    /// session, which takes the display (`DISPLAY`) it is given: Wine's desktop keeps the
    /// display (or the lack of one) of the session's first program.
    pub fn stop(&self) {
        let _ = Command::new("wineserver")
            .arg("-k")
            .env("WINEPREFIX", &self.prefix)
            .status();
        let _ = Command::new("wineserver")
            .arg("-w")
            .env("WINEPREFIX", &self.prefix)
            .status();
    }
}

impl Drop for Wine {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.prefix);
    }
}

/// The Windows build of workspace binary `name` (`tincan-cli` → `tincan-cli.exe`), where
/// `scripts/build-windows` puts it: `target/x86_64-pc-windows-gnu/release/`, or in
/// `TINCAN_WINDOWS_BIN_DIR` when that is set.
pub fn windows_binary(name: &str) -> PathBuf {
    let dir = match std::env::var_os("TINCAN_WINDOWS_BIN_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let exe = std::env::current_exe().expect("the test knows its own path");
            // target/<profile>/deps/<test>-<hash> → target/
            exe.ancestors()
                .nth(3)
                .expect("test executables live in target/<profile>/deps")
                .join("x86_64-pc-windows-gnu/release")
        }
    };
    let path = dir.join(format!("{name}.exe"));
    assert!(
        path.exists(),
        "{} is missing: build it with scripts/build-windows (scripts/test does)",
        path.display()
    );
    path
}

/// `file` in `scripts/build-windows`'s output, `target/windows/dist/` (the installer, the
/// stripped `.exe` files).
pub fn windows_dist(file: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its own path");
    let path = exe
        .ancestors()
        .nth(3)
        .expect("test executables live in target/<profile>/deps")
        .join("windows/dist")
        .join(file);
    assert!(
        path.exists(),
        "{} is missing: build it with scripts/build-windows (scripts/test does)",
        path.display()
    );
    path
}

impl Wine {
    /// `C:\users\<name>\AppData\Local` in this prefix, as a Linux path.
    pub fn local_app_data(&self) -> PathBuf {
        let users = self.prefix.join("drive_c/users");
        std::fs::read_dir(&users)
            .expect("the prefix has users")
            .filter_map(Result::ok)
            .map(|e| e.path().join("AppData/Local"))
            .find(|p| p.is_dir())
            .unwrap_or_else(|| panic!("no AppData\\Local under {}", users.display()))
    }

    /// `wine reg query KEY`'s output (empty when the key is missing).
    pub fn registry(&self, key: &str) -> String {
        let out = self
            .command("reg")
            .args(["query", key])
            .output()
            .expect("wine reg runs");
        if !out.status.success() {
            return String::new();
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}
