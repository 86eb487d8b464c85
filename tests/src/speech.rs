//! Signals and measures for the audio processing tests: speech from `espeak-ng`, steady noise,
//! levels in dBFS and how alike two recordings' envelopes are.

use std::path::Path;
use std::sync::Arc;

use tincan_media::audio::{AudioSource, WavSource};

/// `text` spoken by espeak-ng (`voice`, e.g. "en" or "en-us+f3"), as 48 kHz mono, scaled so
/// its speech (10 ms blocks above −50 dBFS) sits at `dbfs`.
pub fn speech(dir: &Path, name: &str, voice: &str, text: &str, dbfs: f64) -> Arc<Vec<i16>> {
    let wav = dir.join(format!("{name}.wav"));
    let status = std::process::Command::new("espeak-ng")
        .args(["-v", voice, "-s", "150", "-w"])
        .arg(&wav)
        .arg(text)
        .status()
        .expect("espeak-ng runs (scripts/install-deps installs it)");
    assert!(status.success(), "espeak-ng failed");
    let mut source = WavSource::open(&wav, false).expect("espeak-ng wrote a wav");
    let mut samples = Vec::new();
    while let Ok(Some(frame)) = source.read() {
        samples.extend_from_slice(&frame.samples);
    }
    Arc::new(scaled(&samples, dbfs))
}

/// Steady noise like a fan: white noise through a one-pole low-pass, at `dbfs`.
pub fn fan_noise(seconds: f64, dbfs: f64) -> Arc<Vec<i16>> {
    let mut state = 12_345u32;
    let mut low = 0.0f64;
    let raw: Vec<i16> = (0..(seconds * 48_000.0) as usize)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let white = f64::from(state >> 16) / 32768.0 - 1.0;
            low += 0.2 * (white - low);
            (low * 20_000.0) as i16
        })
        .collect();
    Arc::new(scaled(&raw, dbfs))
}

fn scaled(samples: &[i16], dbfs: f64) -> Vec<i16> {
    let now = speech_level_dbfs(samples);
    let gain = 10f64.powf((dbfs - now) / 20.0);
    samples
        .iter()
        .map(|&s| (f64::from(s) * gain).clamp(-32768.0, 32767.0) as i16)
        .collect()
}

fn db(power: f64) -> f64 {
    10.0 * power.max(1e-12).log10()
}

/// Mean power of 10 ms blocks, relative to full scale.
fn block_powers(samples: &[i16]) -> Vec<f64> {
    samples
        .chunks_exact(480)
        .map(|b| {
            b.iter()
                .map(|&s| (f64::from(s) / 32768.0).powi(2))
                .sum::<f64>()
                / 480.0
        })
        .collect()
}

/// The level of everything, dBFS (−120 for silence).
pub fn level_dbfs(samples: &[i16]) -> f64 {
    let p = block_powers(samples);
    db(p.iter().sum::<f64>() / p.len().max(1) as f64)
}

/// The level of the speech in `samples`: blocks within 30 dB of the loudest (and above
/// −60 dBFS), as a speech meter's gate does.
pub fn speech_level_dbfs(samples: &[i16]) -> f64 {
    let p = block_powers(samples);
    let loudest = p.iter().copied().fold(0.0, f64::max);
    let gate = (loudest / 1000.0).max(1e-6);
    let active: Vec<f64> = p.into_iter().filter(|&x| x > gate).collect();
    db(active.iter().sum::<f64>() / active.len().max(1) as f64)
}

/// The loudness contour: 10 ms blocks, in dB (floored at −70).
fn envelope(x: &[i16]) -> Vec<f64> {
    block_powers(x)
        .into_iter()
        .map(|p| db(p).max(-70.0))
        .collect()
}

/// The blocks `range` of `ea` paired with those of `eb` `shift` blocks later.
fn pairs_at(
    ea: &[f64],
    eb: &[f64],
    range: std::ops::Range<usize>,
    shift: isize,
) -> Vec<(f64, f64)> {
    range
        .filter_map(|i| {
            let j = usize::try_from(i as isize + shift).ok()?;
            Some((*ea.get(i)?, *eb.get(j)?))
        })
        .collect()
}

/// The correlation coefficient of `pairs` (None for fewer than 50, or a flat side).
fn pearson(pairs: &[(f64, f64)]) -> Option<f64> {
    if pairs.len() < 50 {
        return None;
    }
    let n = pairs.len() as f64;
    let (mx, my) = (
        pairs.iter().map(|p| p.0).sum::<f64>() / n,
        pairs.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in pairs {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx).powi(2);
        syy += (y - my).powi(2);
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

/// The shift (in blocks, up to `max` either way) at which `range` of `ea` best matches `eb`.
fn best_shift(
    ea: &[f64],
    eb: &[f64],
    range: std::ops::Range<usize>,
    max: isize,
) -> Option<(isize, f64)> {
    (-max..=max)
        .filter_map(|s| pearson(&pairs_at(ea, eb, range.clone(), s)).map(|r| (s, r)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

/// How alike the loudness contours (10 ms blocks, in dB) of two recordings are: the best
/// correlation coefficient over shifts of up to `max_shift_ms` either way.
pub fn envelope_correlation(a: &[i16], b: &[i16], max_shift_ms: usize) -> f64 {
    let (ea, eb) = (envelope(a), envelope(b));
    best_shift(&ea, &eb, 0..ea.len(), (max_shift_ms / 10) as isize).map_or(-1.0, |(_, r)| r)
}

/// [`envelope_correlation`] for recordings whose timing may slip on the way (a jitter
/// buffer that grows, a sound server that stalls): each `piece_ms` of `a` is matched to `b`
/// at its own best shift (up to `max_shift_ms`), and the coefficient is taken over all the
/// pieces' pairs together, so a part that does not match lowers it as before. Also returns
/// each piece's own coefficient, for a reader of a failure.
pub fn envelope_correlation_in_pieces(
    a: &[i16],
    b: &[i16],
    max_shift_ms: usize,
    piece_ms: usize,
) -> (f64, Vec<f64>) {
    let (ea, eb) = (envelope(a), envelope(b));
    let (max, piece) = ((max_shift_ms / 10) as isize, (piece_ms / 10).max(50));
    let mut all = Vec::new();
    let mut each = Vec::new();
    for start in (0..ea.len()).step_by(piece) {
        let range = start..(start + piece).min(ea.len());
        if let Some((shift, r)) = best_shift(&ea, &eb, range.clone(), max) {
            all.extend(pairs_at(&ea, &eb, range, shift));
            each.push(r);
        }
    }
    (pearson(&all).unwrap_or(-1.0), each)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_envelopes_measure_what_they_say() {
        let noise = fan_noise(2.0, -30.0);
        assert!((level_dbfs(&noise) + 30.0).abs() < 0.5);
        let quieter: Vec<i16> = noise.iter().map(|&s| s / 10).collect();
        assert!((level_dbfs(&quieter) + 50.0).abs() < 0.5);
        // Bursts: the same contour correlates, shifted or not; another one does not.
        let bursts = |on: usize| -> Vec<i16> {
            noise
                .iter()
                .enumerate()
                .map(|(i, &s)| if (i / on) % 2 == 0 { s } else { 0 })
                .collect()
        };
        let (a, b) = (bursts(4_800), bursts(7_200));
        let shifted: Vec<i16> = [vec![0; 4_800], a.clone()].concat();
        assert!(envelope_correlation(&a, &shifted, 200) > 0.95);
        assert!(envelope_correlation(&a, &b, 50) < 0.5);
        // A slip of 150 ms halfway: one shift no longer fits both halves; pieces do, and a
        // contour that is not alike stays unlike in pieces too.
        let half = a.len() / 2;
        let slipped: Vec<i16> = [&a[..half], &vec![0; 7_200], &a[half..]].concat();
        let whole = envelope_correlation(&a, &slipped, 300);
        let (pieces, each) = envelope_correlation_in_pieces(&a, &slipped, 300, 500);
        assert!(
            pieces > 0.95 && pieces > whole + 0.05,
            "{pieces} vs {whole}: {each:?}"
        );
        assert!(envelope_correlation_in_pieces(&a, &b, 50, 500).0 < 0.5);
        assert!((speech_level_dbfs(&a) - speech_level_dbfs(&noise)).abs() < 1.0);
    }
}
