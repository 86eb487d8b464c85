//! Where cpal's PulseAudio client finds the server's cookie.
//!
//! cpal talks to PulseAudio through the pure-Rust `pulseaudio` crate (0.3.2). It looks for the
//! cookie only at `$PULSE_COOKIE`, `$HOME/.config/pulse/cookie` and `$HOME/.pulse-cookie`;
//! libpulse and the daemon use `$XDG_CONFIG_HOME/pulse/cookie` first. When the crate finds
//! none it sends an empty cookie, PulseAudio drops the connection as a protocol error
//! ("protocol error, kicking client" in its log), and cpal quietly takes ALSA instead: the
//! person then sees "PulseAudio Sound Server" (`alsa:default`) instead of their devices, and
//! devices saved by id are not found. [`export_for_cpal`] points `PULSE_COOKIE` at libpulse's
//! cookie when only libpulse would have found it.

use std::path::{Path, PathBuf};

/// The cookie to hand cpal's client through `PULSE_COOKIE`, if it needs one: `None` when
/// `PULSE_COOKIE` is set already, when the crate finds a cookie of its own, or when there is
/// none where libpulse looks either. `exists` is asked about paths (the file system in
/// [`export_for_cpal`], a set of paths in tests).
pub fn cookie_to_export(
    pulse_cookie: Option<&str>,
    home: Option<&Path>,
    xdg_config_home: Option<&Path>,
    exists: impl Fn(&Path) -> bool,
) -> Option<PathBuf> {
    if pulse_cookie.is_some_and(|c| !c.is_empty()) {
        return None;
    }
    if let Some(home) = home {
        let crates_own = [
            home.join(".config/pulse/cookie"),
            home.join(".pulse-cookie"),
        ];
        if crates_own.iter().any(|p| exists(p)) {
            return None;
        }
    }
    let libpulse = xdg_config_home
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join("pulse/cookie"))?;
    exists(&libpulse).then_some(libpulse)
}

/// Sets `PULSE_COOKIE` for this process when cpal's client would otherwise miss the cookie
/// (see the module's text). Call it first thing in `main`, before any thread starts: it
/// changes the environment.
pub fn export_for_cpal() {
    if !cfg!(target_os = "linux") {
        return; // cpal uses PulseAudio on Linux only
    }
    let pulse_cookie = std::env::var("PULSE_COOKIE").ok();
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let xdg = std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from);
    if let Some(cookie) = cookie_to_export(
        pulse_cookie.as_deref(),
        home.as_deref(),
        xdg.as_deref(),
        Path::is_file,
    ) {
        std::env::set_var("PULSE_COOKIE", cookie);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One case: `PULSE_COOKIE`, `HOME`, `XDG_CONFIG_HOME`, the files there, what to export.
    type Case<'a> = (
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        &'a [&'a str],
        Option<&'a str>,
    );

    fn check(cases: &[Case]) {
        for &(named, home, xdg, present, want) in cases {
            let exists = |p: &Path| present.iter().any(|f| Path::new(f) == p);
            let got = cookie_to_export(named, home.map(Path::new), xdg.map(Path::new), exists);
            assert_eq!(
                got,
                want.map(PathBuf::from),
                "PULSE_COOKIE {named:?}, HOME {home:?}, XDG_CONFIG_HOME {xdg:?}, files {present:?}"
            );
        }
    }

    #[test]
    fn libpulses_cookie_when_the_crate_would_find_none() {
        check(&[
            (
                None,
                Some("/tmp/home"),
                Some("/cfg"),
                &["/cfg/pulse/cookie"],
                Some("/cfg/pulse/cookie"),
            ),
            (
                Some(""),
                None,
                Some("/cfg"),
                &["/cfg/pulse/cookie"],
                Some("/cfg/pulse/cookie"),
            ),
        ]);
    }

    #[test]
    fn nothing_when_the_crate_finds_its_own_or_one_is_named() {
        check(&[
            (
                None,
                Some("/home/a"),
                Some("/cfg"),
                &["/home/a/.config/pulse/cookie", "/cfg/pulse/cookie"],
                None,
            ),
            (
                None,
                Some("/home/a"),
                Some("/cfg"),
                &["/home/a/.pulse-cookie", "/cfg/pulse/cookie"],
                None,
            ),
            (
                Some("/elsewhere/cookie"),
                None,
                Some("/cfg"),
                &["/cfg/pulse/cookie"],
                None,
            ),
        ]);
    }

    #[test]
    fn nothing_when_there_is_no_cookie_or_the_config_home_is_relative() {
        check(&[
            (None, Some("/home/a"), Some("/cfg"), &[], None),
            (Some(""), None, Some("cfg"), &["cfg/pulse/cookie"], None),
        ]);
    }
}
