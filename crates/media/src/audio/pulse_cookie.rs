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

    fn files<'a>(present: &'a [&'a str]) -> impl Fn(&Path) -> bool + 'a {
        move |p: &Path| present.iter().any(|f| Path::new(f) == p)
    }

    #[test]
    fn libpulses_cookie_when_the_crate_would_find_none() {
        let got = cookie_to_export(
            None,
            Some(Path::new("/tmp/home")),
            Some(Path::new("/cfg")),
            files(&["/cfg/pulse/cookie"]),
        );
        assert_eq!(got, Some(PathBuf::from("/cfg/pulse/cookie")));
    }

    #[test]
    fn nothing_when_the_crate_finds_its_own_or_one_is_named() {
        let own = files(&["/home/a/.config/pulse/cookie", "/cfg/pulse/cookie"]);
        let got = cookie_to_export(
            None,
            Some(Path::new("/home/a")),
            Some(Path::new("/cfg")),
            own,
        );
        assert_eq!(got, None);
        let old = files(&["/home/a/.pulse-cookie", "/cfg/pulse/cookie"]);
        let got = cookie_to_export(
            None,
            Some(Path::new("/home/a")),
            Some(Path::new("/cfg")),
            old,
        );
        assert_eq!(got, None);
        let named = cookie_to_export(
            Some("/elsewhere/cookie"),
            None,
            Some(Path::new("/cfg")),
            files(&["/cfg/pulse/cookie"]),
        );
        assert_eq!(named, None);
    }

    #[test]
    fn nothing_when_there_is_no_cookie_or_the_config_home_is_relative() {
        let none = cookie_to_export(
            None,
            Some(Path::new("/home/a")),
            Some(Path::new("/cfg")),
            files(&[]),
        );
        assert_eq!(none, None);
        let relative = cookie_to_export(
            Some(""),
            None,
            Some(Path::new("cfg")),
            files(&["cfg/pulse/cookie"]),
        );
        assert_eq!(relative, None);
    }
}
