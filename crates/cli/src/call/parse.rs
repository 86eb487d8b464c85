//! The values of `tincan-cli call`'s flags: inputs, processing, timed switches.

use tincan_call::{AudioInput, AudioProcessing, VideoInput};
use tincan_media::video::ScreenTarget;

pub(super) fn parse_video(v: &str) -> Result<VideoInput, String> {
    Ok(match v {
        "pattern" => VideoInput::Pattern,
        "flash" => VideoInput::Flash,
        "none" => VideoInput::None,
        "camera" => VideoInput::Camera(None),
        v if v.starts_with("camera:") => VideoInput::Camera(Some(v["camera:".len()..].to_owned())),
        "screen" => VideoInput::Screen(ScreenTarget::Display(None)),
        v if v.starts_with("screen:") => VideoInput::Screen(
            ScreenTarget::parse(&v["screen:".len()..]).map_err(|e| format!("--video {v}: {e}"))?,
        ),
        file => VideoInput::File(file.into()),
    })
}

/// `--share-screen`'s value: empty for the whole screen, else a display, a window or `portal`.
pub(super) fn parse_share(v: &str) -> Result<ScreenTarget, String> {
    match v {
        "" => Ok(ScreenTarget::Display(None)),
        v => ScreenTarget::parse(v).map_err(|e| format!("--share-screen {v}: {e}")),
    }
}

pub(super) fn parse_audio(a: &str) -> Result<AudioInput, String> {
    Ok(match a {
        "tone" => AudioInput::Tone(440.0),
        "beep" => AudioInput::Beep(1000.0),
        a if a.starts_with("beep:") => AudioInput::Beep(
            a["beep:".len()..]
                .parse()
                .map_err(|_| format!("--audio {a}: beep:HZ takes a number"))?,
        ),
        "none" => AudioInput::None,
        "mic" => AudioInput::Microphone(None),
        a if a.starts_with("mic:") => AudioInput::Microphone(Some(a["mic:".len()..].to_owned())),
        a if a.starts_with("tone:") => AudioInput::Tone(
            a["tone:".len()..]
                .parse()
                .map_err(|_| format!("--audio {a}: tone:HZ takes a number"))?,
        ),
        file => AudioInput::File(file.into()),
    })
}

/// on, off, or a comma-separated list of aec (echo cancellation), ns (noise suppression) and
/// agc (automatic gain).
pub(super) fn parse_processing(value: &str) -> Result<AudioProcessing, String> {
    match value {
        "on" => return Ok(AudioProcessing::ON),
        "off" => return Ok(AudioProcessing::OFF),
        _ => {}
    }
    let mut settings = AudioProcessing::OFF;
    for stage in value.split(',') {
        match stage.trim() {
            "aec" => settings.echo_cancellation = true,
            "ns" => settings.noise_suppression = true,
            "agc" => settings.auto_gain = true,
            other => {
                return Err(format!(
                    "{other:?}: use on, off, or a list of aec, ns and agc (like aec,ns)"
                ))
            }
        }
    }
    Ok(settings)
}

/// `SECS:INPUT` of the --switch flags.
pub(super) fn parse_switch(flag: &str, value: &str) -> Result<(f64, String), String> {
    value
        .split_once(':')
        .and_then(|(secs, input)| Some((secs.parse().ok()?, input.to_owned())))
        .ok_or_else(|| format!("{flag} {value}: use SECONDS:INPUT, like 3:tone:660"))
}

/// `START-END` of --talk: seconds into the call.
/// `--show WxH|none`: the size the others' cameras are shown at.
pub(super) fn parse_show(value: &str) -> Result<(u32, u32), String> {
    if value == "none" {
        return Ok((0, 0));
    }
    value
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
        .ok_or_else(|| format!("--show {value}: use WIDTHxHEIGHT, like 320x180, or none"))
}

pub(super) fn parse_window(flag: &str, value: &str) -> Result<(f64, f64), String> {
    value
        .split_once('-')
        .and_then(|(a, b)| Some((a.trim().parse::<f64>().ok()?, b.trim().parse::<f64>().ok()?)))
        .filter(|(a, b)| a.is_finite() && b.is_finite() && *a >= 0.0 && a < b)
        .ok_or_else(|| format!("{flag} {value}: use START-END in seconds, like 5-7.5"))
}

/// Whether the microphone is muted `elapsed` seconds into the call: from --mute-after on, and
/// outside every --talk window when there are any (push-to-talk, scripted).
pub(super) fn muted_at(elapsed: f64, mute_after: Option<f64>, talk: &[(f64, f64)]) -> bool {
    mute_after.is_some_and(|at| elapsed >= at)
        || (!talk.is_empty() && !talk.iter().any(|&(a, b)| elapsed >= a && elapsed < b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processing_is_on_off_or_a_list_of_stages() {
        assert_eq!(parse_processing("on"), Ok(AudioProcessing::ON));
        assert_eq!(parse_processing("off"), Ok(AudioProcessing::OFF));
        let some = parse_processing("aec, ns").unwrap();
        assert!(some.echo_cancellation && some.noise_suppression && !some.auto_gain);
        let error = parse_processing("aec,echo").unwrap_err();
        assert!(
            error.contains("\"echo\"") && error.contains("aec, ns and agc"),
            "{error}"
        );
        assert_eq!(
            parse_switch("--audio-processing-at", "5:aec"),
            Ok((5.0, "aec".to_owned()))
        );
        assert!(parse_switch("--audio-processing-at", "soon").is_err());
    }

    #[test]
    fn talk_windows_open_the_microphone_only_inside_them() {
        assert_eq!(parse_window("--talk", "5-7.5"), Ok((5.0, 7.5)));
        for bad in ["7-5", "5", "a-b", "-1-2", "3-3"] {
            assert!(
                parse_window("--talk", bad)
                    .unwrap_err()
                    .contains("START-END"),
                "{bad}"
            );
        }
        let talk = [(2.0, 4.0), (6.0, 7.0)];
        let muted: Vec<bool> = [0.0, 2.0, 3.9, 4.0, 6.5, 8.0]
            .iter()
            .map(|&t| muted_at(t, None, &talk))
            .collect();
        assert_eq!(muted, [true, false, false, true, false, true]);
        assert!(!muted_at(100.0, None, &[]));
        assert!(muted_at(3.0, Some(2.5), &talk));
    }
}
