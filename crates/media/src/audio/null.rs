use super::AudioSink;
use crate::{AudioFrame, MediaError};

/// Throws audio away (a call with `--speaker none`).
#[derive(Debug, Default)]
pub struct NullSink;

impl AudioSink for NullSink {
    fn write(&mut self, _frame: &AudioFrame) -> Result<(), MediaError> {
        Ok(())
    }
}
