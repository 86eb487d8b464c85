//! VP8 and Opus, measured: quality, stamps, keyframes on demand, bitrate changes, tone
//! fidelity, loss concealment and FEC recovery.

use tincan_media::audio::analysis::{dominant_frequency, rms};
use tincan_media::audio::{AudioSource, ToneSource};
use tincan_media::codec::{OpusDecoder, OpusEncoder, Vp8Config, Vp8Decoder, Vp8Encoder};
use tincan_media::video::{stamp, y_psnr, PatternSource, VideoFormat, VideoSource};
use tincan_media::{AudioFrame, FRAME_SAMPLES, SAMPLE_RATE};

fn pattern(width: u32, height: u32) -> PatternSource {
    PatternSource::new(VideoFormat {
        width,
        height,
        fps: 30,
    })
    .unwrap()
}

#[test]
fn vp8_720p_at_1_5_mbps_keeps_quality_and_every_stamp() {
    let mut source = pattern(1280, 720);
    let mut encoder = Vp8Encoder::new(&Vp8Config::new(1280, 720, 30, 1500)).unwrap();
    let mut decoder = Vp8Decoder::new().unwrap();
    let mut psnrs = Vec::new();
    let mut expected_number = 0u32;
    let mut encoded = 0;
    for _ in 0..90 {
        let frame = source.read().unwrap();
        let sent = stamp::read(&frame).expect("source frames are stamped");
        let Some(packet) = encoder.encode(&frame).unwrap() else {
            continue;
        };
        encoded += 1;
        let decoded = decoder.decode(&packet.data, packet.capture_us).unwrap();
        psnrs.push(y_psnr(&frame, &decoded));
        let got = stamp::read(&decoded).expect("the stamp survives VP8");
        assert_eq!(got, sent, "stamp of frame {}", sent.frame_number);
        assert!(got.frame_number >= expected_number, "in order");
        expected_number = got.frame_number + 1;
    }
    let mean = psnrs.iter().sum::<f64>() / psnrs.len() as f64;
    let worst = psnrs.iter().cloned().fold(f64::INFINITY, f64::min);
    println!("720p @1.5 Mbps: {encoded}/90 frames encoded, Y-PSNR mean {mean:.1} dB, worst {worst:.1} dB");
    assert!(
        encoded >= 85,
        "rate control dropped {} of 90 frames",
        90 - encoded
    );
    assert!(mean >= 35.0, "mean Y-PSNR {mean:.1} dB");
}

/// With two temporal layers, a receiver given only layer 0 (half the rate) decodes every
/// picture it gets, as well as one given all: layer 1 is referred to by nothing.
#[test]
fn layer_0_alone_decodes_at_half_the_rate() {
    let mut source = pattern(640, 360);
    let mut encoder = Vp8Encoder::new(&Vp8Config::new(640, 360, 30, 600)).unwrap();
    encoder.set_temporal_layers(true);
    let (mut all, mut half) = (Vp8Decoder::new().unwrap(), Vp8Decoder::new().unwrap());
    let (mut layers, mut psnr_half) = (Vec::new(), Vec::new());
    for n in 0..90 {
        if n == 45 {
            encoder.request_keyframe();
        }
        let frame = source.read().unwrap();
        let Some(packet) = encoder.encode(&frame).unwrap() else {
            continue;
        };
        layers.push(packet.layer);
        all.decode(&packet.data, 0).expect("all layers decode");
        if packet.layer == 0 {
            let decoded = half.decode(&packet.data, 0).expect("layer 0 alone decodes");
            psnr_half.push(y_psnr(&frame, &decoded));
            let sent = stamp::read(&frame).expect("stamped");
            assert_eq!(stamp::read(&decoded), Some(sent), "the right picture");
        }
    }
    let zeros = layers.iter().filter(|&&l| l == 0).count();
    assert!(
        (40..=50).contains(&zeros),
        "{zeros} of {} pictures in layer 0: {layers:?}",
        layers.len()
    );
    let mean = psnr_half.iter().sum::<f64>() / psnr_half.len() as f64;
    assert!(mean >= 30.0, "layer 0's mean Y-PSNR {mean:.1} dB");
    // Off again: every picture is layer 0.
    encoder.set_temporal_layers(false);
    for _ in 0..4 {
        if let Some(packet) = encoder.encode(&source.read().unwrap()).unwrap() {
            assert_eq!(packet.layer, 0);
        }
    }
}

#[test]
fn a_forced_keyframe_is_the_next_frame() {
    let mut source = pattern(640, 360);
    let mut encoder = Vp8Encoder::new(&Vp8Config::new(640, 360, 30, 800)).unwrap();
    let first = encoder.encode(&source.read().unwrap()).unwrap().unwrap();
    assert!(first.keyframe, "the first frame is a keyframe");
    for _ in 0..10 {
        if let Some(p) = encoder.encode(&source.read().unwrap()).unwrap() {
            assert!(!p.keyframe, "no keyframe without a request");
        }
    }
    encoder.request_keyframe();
    let next = encoder
        .encode(&source.read().unwrap())
        .unwrap()
        .expect("a frame");
    assert!(next.keyframe, "the frame after the request is a keyframe");
    let after = encoder
        .encode(&source.read().unwrap())
        .unwrap()
        .expect("a frame");
    assert!(!after.keyframe, "and only that one");
}

#[test]
fn the_bitrate_follows_a_drop_from_2_mbps_to_300_kbps() {
    let mut source = pattern(1280, 720);
    let mut encoder = Vp8Encoder::new(&Vp8Config::new(1280, 720, 30, 2000)).unwrap();
    for _ in 0..60 {
        encoder.encode(&source.read().unwrap()).unwrap();
    }
    encoder.set_bitrate_kbps(300).unwrap();
    assert_eq!(encoder.bitrate_kbps(), 300);
    let mut bytes = 0usize;
    for _ in 0..60 {
        if let Some(p) = encoder.encode(&source.read().unwrap()).unwrap() {
            bytes += p.data.len();
        }
    }
    let kbps = bytes as f64 * 8.0 / 2.0 / 1000.0;
    println!("after the drop: {kbps:.0} kbps over 2 s (target 300)");
    assert!(
        (240.0..=360.0).contains(&kbps),
        "{kbps:.0} kbps is not within 20 % of 300"
    );
}

#[test]
fn the_decoder_reports_what_it_cannot_decode() {
    let mut source = pattern(640, 360);
    let mut encoder = Vp8Encoder::new(&Vp8Config::new(640, 360, 30, 800)).unwrap();
    let mut decoder = Vp8Decoder::new().unwrap();
    assert!(decoder.needs_keyframe());
    let key = encoder.encode(&source.read().unwrap()).unwrap().unwrap();
    let delta1 = encoder.encode(&source.read().unwrap()).unwrap().unwrap();
    let delta2 = encoder.encode(&source.read().unwrap()).unwrap().unwrap();
    // A delta frame before any keyframe cannot be decoded.
    assert!(decoder.decode(&delta1.data, 0).is_err());
    decoder.decode(&key.data, 0).unwrap();
    assert!(!decoder.needs_keyframe());
    // Garbage fails and leaves the decoder waiting for a keyframe, refusing deltas meanwhile.
    assert!(decoder.decode(&[0x01, 0xff, 0x00, 0x13, 0x37], 0).is_err());
    assert!(decoder.needs_keyframe());
    assert!(decoder.decode(&delta2.data, 0).is_err());
    encoder.request_keyframe();
    let key2 = encoder.encode(&source.read().unwrap()).unwrap().unwrap();
    decoder.decode(&key2.data, 0).unwrap();
    assert!(!decoder.needs_keyframe());
}

fn tone_frames(hz: f64, count: usize) -> Vec<AudioFrame> {
    let mut tone = ToneSource::tone(hz);
    (0..count).map(|_| tone.read().unwrap().unwrap()).collect()
}

#[test]
fn an_opus_tone_round_trip_keeps_its_frequency() {
    let mut encoder = OpusEncoder::new(32_000).unwrap();
    let mut decoder = OpusDecoder::new().unwrap();
    let mut out = Vec::new();
    for frame in tone_frames(440.0, 50) {
        let packet = encoder.encode(&frame).unwrap();
        assert!(
            packet.len() < 200,
            "a 20 ms packet at 32 kbps is small: {}",
            packet.len()
        );
        out.extend(decoder.decode(&packet, frame.capture_us).unwrap().samples);
    }
    let hz = dominant_frequency(&out[4800..], SAMPLE_RATE).unwrap();
    assert!((hz - 440.0).abs() < 1.0, "{hz:.2} Hz");
    assert!(
        (rms(&out[4800..]) - 0.5 / 2f64.sqrt()).abs() < 0.05,
        "level kept"
    );
}

/// Signal-to-noise ratio of `got` against `want`, in dB.
fn snr(want: &[i16], got: &[i16]) -> f64 {
    let signal: f64 = want.iter().map(|&s| f64::from(s).powi(2)).sum();
    let noise: f64 = want
        .iter()
        .zip(got)
        .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
        .sum();
    10.0 * (signal / noise.max(1.0)).log10()
}

#[test]
fn a_lost_packet_is_concealed_and_recovered_by_fec() {
    // A sweep, so a copy of the previous packet would not pass for the lost one.
    let mut sweep = ToneSource::sweep(300.0, 1200.0, 1.0);
    let frames: Vec<AudioFrame> = (0..40).map(|_| sweep.read().unwrap().unwrap()).collect();
    let mut encoder = OpusEncoder::new(32_000).unwrap();
    encoder.set_fec(true).unwrap();
    encoder.set_expected_loss(20).unwrap();
    let packets: Vec<Vec<u8>> = frames.iter().map(|f| encoder.encode(f).unwrap()).collect();
    let lost = 30;

    // Reference: everything arrives.
    let mut reference = OpusDecoder::new().unwrap();
    let clean: Vec<AudioFrame> = packets
        .iter()
        .map(|p| reference.decode(p, 0).unwrap())
        .collect();

    // Packet 30 is lost and concealed.
    let mut plc = OpusDecoder::new().unwrap();
    for p in &packets[..lost] {
        plc.decode(p, 0).unwrap();
    }
    let concealed = plc.conceal(0).unwrap();
    assert_eq!(concealed.samples.len(), FRAME_SAMPLES);
    assert!(rms(&concealed.samples) > 0.05, "concealment is not silence");

    // Packet 30 is lost and rebuilt from packet 31's FEC data.
    let mut fec = OpusDecoder::new().unwrap();
    for p in &packets[..lost] {
        fec.decode(p, 0).unwrap();
    }
    let recovered = fec.recover(&packets[lost + 1], 0).unwrap();
    let after = fec.decode(&packets[lost + 1], 0).unwrap();

    let snr_plc = snr(&clean[lost].samples, &concealed.samples);
    let snr_fec = snr(&clean[lost].samples, &recovered.samples);
    println!("lost packet: concealment {snr_plc:.1} dB SNR, FEC recovery {snr_fec:.1} dB SNR");
    assert!(
        snr_fec > snr_plc + 3.0,
        "FEC ({snr_fec:.1} dB) beats concealment ({snr_plc:.1} dB)"
    );
    assert!(snr_fec > 5.0, "FEC rebuilds the packet ({snr_fec:.1} dB)");
    assert!(
        snr(&clean[lost + 1].samples, &after.samples) > 5.0,
        "decoding goes on"
    );

    // Without FEC in the stream, recovery is only concealment.
    let mut plain = OpusEncoder::new(32_000).unwrap();
    let plain_packets: Vec<Vec<u8>> = frames.iter().map(|f| plain.encode(f).unwrap()).collect();
    let mut nofec = OpusDecoder::new().unwrap();
    for p in &plain_packets[..lost] {
        nofec.decode(p, 0).unwrap();
    }
    let guessed = nofec.recover(&plain_packets[lost + 1], 0).unwrap();
    assert!(snr(&clean[lost].samples, &guessed.samples) < snr_fec);
}
