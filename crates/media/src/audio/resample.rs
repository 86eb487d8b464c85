//! Sample-rate conversion with rubato, for devices and files that are not 48 kHz.

use rubato::{FftFixedIn, Resampler as _};

use crate::MediaError;

/// A streaming mono resampler: push any number of samples, take what has been converted.
pub struct Resampler {
    /// None when the rates are equal: samples pass through untouched.
    inner: Option<FftFixedIn<f32>>,
    input: Vec<f32>,
    chunk: usize,
}

impl Resampler {
    pub fn new(from_hz: u32, to_hz: u32) -> Result<Self, MediaError> {
        if from_hz == 0 || to_hz == 0 {
            return Err(MediaError::Format(format!(
                "cannot resample {from_hz} Hz to {to_hz} Hz"
            )));
        }
        if from_hz == to_hz {
            return Ok(Self {
                inner: None,
                input: Vec::new(),
                chunk: 0,
            });
        }
        // 10 ms chunks keep the added delay small.
        let chunk = (from_hz / 100).max(1) as usize;
        let inner = FftFixedIn::new(from_hz as usize, to_hz as usize, chunk, 2, 1)
            .map_err(|e| MediaError::Format(format!("resampler: {e}")))?;
        Ok(Self {
            inner: Some(inner),
            input: Vec::new(),
            chunk,
        })
    }

    /// Converts `samples`, appending the output to `out`.
    pub fn process(&mut self, samples: &[f32], out: &mut Vec<f32>) -> Result<(), MediaError> {
        let Some(inner) = self.inner.as_mut() else {
            out.extend_from_slice(samples);
            return Ok(());
        };
        self.input.extend_from_slice(samples);
        let mut used = 0;
        while self.input.len() - used >= self.chunk {
            let block = &self.input[used..used + self.chunk];
            let converted = inner
                .process(&[block], None)
                .map_err(|e| MediaError::Format(format!("resampler: {e}")))?;
            out.extend_from_slice(&converted[0]);
            used += self.chunk;
        }
        self.input.drain(..used);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_rates_pass_through() {
        let mut r = Resampler::new(48_000, 48_000).unwrap();
        let mut out = Vec::new();
        r.process(&[0.1, 0.2], &mut out).unwrap();
        assert_eq!(out, vec![0.1, 0.2]);
    }

    #[test]
    fn converts_the_sample_count() {
        let mut r = Resampler::new(44_100, 48_000).unwrap();
        let mut out = Vec::new();
        r.process(&vec![0.0; 44_100], &mut out).unwrap();
        // One second in; one second out, less the filter's delay.
        assert!((46_000..=48_000).contains(&out.len()), "{}", out.len());
    }
}
