//! Opus for call audio: 48 kHz mono, 20 ms packets, VOIP mode, in-band FEC when the far end
//! reports loss, and concealment of packets that never arrive.

use crate::{AudioFrame, MediaError, FRAME_SAMPLES, SAMPLE_RATE};

/// Largest packet we produce; Opus recommends 4000 bytes as a safe bound.
const MAX_PACKET: usize = 4000;

fn fail(e: opus::Error) -> MediaError {
    MediaError::Codec(format!("opus: {e}"))
}

pub struct OpusEncoder {
    inner: opus::Encoder,
}

impl OpusEncoder {
    pub fn new(bitrate_bps: i32) -> Result<Self, MediaError> {
        let mut inner =
            opus::Encoder::new(SAMPLE_RATE, opus::Channels::Mono, opus::Application::Voip)
                .map_err(fail)?;
        inner
            .set_bitrate(opus::Bitrate::Bits(bitrate_bps))
            .map_err(fail)?;
        Ok(Self { inner })
    }

    pub fn set_bitrate(&mut self, bps: i32) -> Result<(), MediaError> {
        self.inner
            .set_bitrate(opus::Bitrate::Bits(bps))
            .map_err(fail)
    }

    /// In-band FEC: each packet also carries a coarse copy of the one before, so the receiver
    /// can rebuild a lost packet from the next. Turn it on when the far end reports loss.
    pub fn set_fec(&mut self, on: bool) -> Result<(), MediaError> {
        self.inner.set_inband_fec(on).map_err(fail)
    }

    /// The loss (0–100 %) the far end reports; Opus spends FEC bits accordingly.
    pub fn set_expected_loss(&mut self, percent: u8) -> Result<(), MediaError> {
        self.inner
            .set_packet_loss_perc(i32::from(percent.min(100)))
            .map_err(fail)
    }

    pub fn encode(&mut self, frame: &AudioFrame) -> Result<Vec<u8>, MediaError> {
        if frame.samples.len() != FRAME_SAMPLES {
            return Err(MediaError::Codec(format!(
                "an audio frame has {FRAME_SAMPLES} samples, not {}",
                frame.samples.len()
            )));
        }
        self.inner
            .encode_vec(&frame.samples, MAX_PACKET)
            .map_err(fail)
    }
}

pub struct OpusDecoder {
    inner: opus::Decoder,
}

impl OpusDecoder {
    pub fn new() -> Result<Self, MediaError> {
        Ok(Self {
            inner: opus::Decoder::new(SAMPLE_RATE, opus::Channels::Mono).map_err(fail)?,
        })
    }

    /// Decodes a packet that arrived.
    pub fn decode(&mut self, packet: &[u8], capture_us: u64) -> Result<AudioFrame, MediaError> {
        if packet.is_empty() {
            return self.conceal(capture_us);
        }
        self.run(packet, false, capture_us)
    }

    /// Makes up 20 ms for a packet that never came (packet loss concealment).
    pub fn conceal(&mut self, capture_us: u64) -> Result<AudioFrame, MediaError> {
        self.run(&[], false, capture_us)
    }

    /// Rebuilds a lost packet from the FEC data in the packet after it. Call it with the next
    /// packet before decoding that packet normally. Without FEC data in `next`, this conceals.
    pub fn recover(&mut self, next: &[u8], capture_us: u64) -> Result<AudioFrame, MediaError> {
        self.run(next, true, capture_us)
    }

    fn run(&mut self, packet: &[u8], fec: bool, capture_us: u64) -> Result<AudioFrame, MediaError> {
        let mut samples = vec![0i16; FRAME_SAMPLES];
        let n = self.inner.decode(packet, &mut samples, fec).map_err(fail)?;
        samples.truncate(n);
        samples.resize(FRAME_SAMPLES, 0);
        Ok(AudioFrame {
            samples,
            capture_us,
        })
    }
}
