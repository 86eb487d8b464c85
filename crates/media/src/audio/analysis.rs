//! Measurements on audio, for tests and call statistics.

/// The frequency of a tone, from the spacing of its rising zero crossings (interpolated
/// between samples). None if there are fewer than two crossings or the signal is silent.
pub fn dominant_frequency(samples: &[i16], rate: u32) -> Option<f64> {
    let mean = samples.iter().map(|&s| f64::from(s)).sum::<f64>() / samples.len().max(1) as f64;
    let mut first: Option<f64> = None;
    let mut last = 0.0;
    let mut crossings = 0usize;
    for (i, pair) in samples.windows(2).enumerate() {
        let (a, b) = (f64::from(pair[0]) - mean, f64::from(pair[1]) - mean);
        if a < 0.0 && b >= 0.0 {
            let at = i as f64 + a / (a - b);
            first.get_or_insert(at);
            last = at;
            crossings += 1;
        }
    }
    let first = first?;
    if crossings < 2 || last <= first {
        return None;
    }
    Some((crossings - 1) as f64 * f64::from(rate) / (last - first))
}

/// Root mean square level, 0.0 to 1.0 of full scale.
pub fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples
        .iter()
        .map(|&s| (f64::from(s) / 32768.0).powi(2))
        .sum();
    (sum / samples.len() as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_frequency_of_a_sine() {
        let samples: Vec<i16> = (0..48_000)
            .map(|i| {
                ((i as f64 * 440.0 * std::f64::consts::TAU / 48_000.0).sin() * 10_000.0) as i16
            })
            .collect();
        let hz = dominant_frequency(&samples, 48_000).unwrap();
        assert!((hz - 440.0).abs() < 0.5, "{hz}");
        assert!((rms(&samples) - 10_000.0 / 32768.0 / 2f64.sqrt()).abs() < 0.01);
        assert_eq!(dominant_frequency(&[0; 100], 48_000), None);
    }
}
