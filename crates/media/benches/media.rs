//! Media engine throughput: VP8 encode and decode at 720p and 360p on one thread, Opus
//! encode and decode, and camera-format conversion. `cargo bench -p tincan-media`; the
//! figures are in BENCHMARKS.md.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tincan_media::audio::{AudioSource, ToneSource};
use tincan_media::codec::{OpusDecoder, OpusEncoder, Vp8Config, Vp8Decoder, Vp8Encoder};
use tincan_media::video::convert::{mjpeg_to_i420, nv12_to_i420, yuyv_to_i420};
use tincan_media::video::{PatternSource, VideoFormat, VideoSource};
use tincan_media::VideoFrame;

const SIZES: [(u32, u32, u32); 2] = [(1280, 720, 1500), (640, 360, 600)];

/// Two seconds of the moving test pattern.
fn clip(width: u32, height: u32) -> Vec<VideoFrame> {
    let mut source = PatternSource::new(VideoFormat {
        width,
        height,
        fps: 30,
    })
    .unwrap();
    (0..60).map(|_| source.read().unwrap()).collect()
}

fn vp8(c: &mut Criterion) {
    let mut group = c.benchmark_group("vp8");
    group.sample_size(20);
    for (w, h, kbps) in SIZES {
        let frames = clip(w, h);
        let label = format!("{w}x{h}");
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(
            BenchmarkId::new("encode_1_thread", &label),
            &frames,
            |b, frames| {
                let mut config = Vp8Config::new(w, h, 30, kbps);
                config.threads = Some(1);
                let mut encoder = Vp8Encoder::new(&config).unwrap();
                let mut i = 0;
                b.iter(|| {
                    let out = encoder.encode(&frames[i % frames.len()]).unwrap();
                    i += 1;
                    out
                });
            },
        );
        let mut config = Vp8Config::new(w, h, 30, kbps);
        config.threads = Some(1);
        let mut encoder = Vp8Encoder::new(&config).unwrap();
        let packets: Vec<Vec<u8>> = frames
            .iter()
            .filter_map(|f| encoder.encode(f).unwrap())
            .map(|p| p.data)
            .collect();
        group.bench_with_input(
            BenchmarkId::new("decode", &label),
            &packets,
            |b, packets| {
                // Decoding restarts at the keyframe each lap, as a stream does after a PLI.
                let mut decoder = Vp8Decoder::new().unwrap();
                let mut i = 0;
                b.iter(|| {
                    let out = decoder.decode(&packets[i % packets.len()], 0).unwrap();
                    i += 1;
                    out
                });
            },
        );
    }
    group.finish();
}

fn opus(c: &mut Criterion) {
    let mut tone = ToneSource::sweep(200.0, 2000.0, 1.0);
    let frames: Vec<_> = (0..50).map(|_| tone.read().unwrap().unwrap()).collect();
    let mut group = c.benchmark_group("opus_20ms");
    group.throughput(Throughput::Elements(1));
    group.bench_function("encode", |b| {
        let mut encoder = OpusEncoder::new(32_000).unwrap();
        let mut i = 0;
        b.iter(|| {
            i += 1;
            encoder.encode(&frames[i % frames.len()]).unwrap()
        });
    });
    let mut encoder = OpusEncoder::new(32_000).unwrap();
    let packets: Vec<Vec<u8>> = frames.iter().map(|f| encoder.encode(f).unwrap()).collect();
    group.bench_function("decode", |b| {
        let mut decoder = OpusDecoder::new().unwrap();
        let mut i = 0;
        b.iter(|| {
            i += 1;
            decoder.decode(&packets[i % packets.len()], 0).unwrap()
        });
    });
    group.finish();
}

/// The pattern's first 720p frame in each camera format.
fn camera_frames() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let frame = &clip(1280, 720)[0];
    let (w, h) = (1280usize, 720usize);
    let (y, u, v) = (frame.y(), frame.u(), frame.v());
    let mut yuyv = Vec::with_capacity(w * h * 2);
    for row in 0..h {
        for x in (0..w).step_by(2) {
            let c = (row / 2) * (w / 2) + x / 2;
            yuyv.extend_from_slice(&[y[row * w + x], u[c], y[row * w + x + 1], v[c]]);
        }
    }
    let mut nv12 = y.to_vec();
    for (a, b) in u.iter().zip(v) {
        nv12.extend_from_slice(&[*a, *b]);
    }
    // MJPEG: the luma as an RGB picture, JPEG-encoded as a camera would at quality 85.
    let rgb: Vec<u8> = y.iter().flat_map(|&l| [l, l, l]).collect();
    let mut jpeg = Vec::new();
    jpeg_encoder::Encoder::new(&mut jpeg, 85)
        .encode(&rgb, w as u16, h as u16, jpeg_encoder::ColorType::Rgb)
        .unwrap();
    (yuyv, nv12, jpeg)
}

fn convert(c: &mut Criterion) {
    let (yuyv, nv12, jpeg) = camera_frames();
    let mut group = c.benchmark_group("convert_720p_to_i420");
    group.throughput(Throughput::Elements(1));
    group.bench_function("yuyv", |b| {
        b.iter(|| yuyv_to_i420(&yuyv, 1280, 720, 0).unwrap())
    });
    group.bench_function("nv12", |b| {
        b.iter(|| nv12_to_i420(&nv12, 1280, 720, 0).unwrap())
    });
    group.sample_size(30);
    group.bench_function("mjpeg", |b| b.iter(|| mjpeg_to_i420(&jpeg, 0).unwrap()));
    group.finish();
}

criterion_group!(benches, vp8, opus, convert);
criterion_main!(benches);
