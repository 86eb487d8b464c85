//! `apm-compare FAR.wav NEAR.wav`: runs each library over the same simulated room (the far
//! end's speech back into the microphone 100 ms later at −6 dB; then 150 ms; a near-end
//! talker) and prints one line per library: echo removed, double-talk level and likeness,
//! time back to 20 dB after the delay change, and microseconds per 10 ms frame.

use std::time::Instant;

const RATE: usize = 48_000;
const CHUNK: usize = RATE / 100;

fn load(path: &str) -> Vec<f32> {
    let reader = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let rate = reader.spec().sample_rate as f64;
    let s: Vec<f32> = reader
        .into_samples::<i16>()
        .map(|s| s.map_or(0.0, |v| f32::from(v) / 32768.0))
        .collect();
    let n = (s.len() as f64 * RATE as f64 / rate) as usize;
    (0..n)
        .map(|i| {
            let x = i as f64 * rate / RATE as f64;
            let j = (x as usize).min(s.len() - 1);
            let f = (x - j as f64) as f32;
            s[j] + (s[(j + 1).min(s.len() - 1)] - s[j]) * f
        })
        .collect()
}

trait Processor {
    fn render(&mut self, x: &[f32]);
    fn capture(&mut self, x: &[f32], out: &mut [f32]);
}

struct Sonora(sonora::AudioProcessing);
impl Processor for Sonora {
    fn render(&mut self, x: &[f32]) {
        let mut o = vec![0.0; CHUNK];
        let _ = self.0.process_render_f32(&[x], &mut [&mut o]);
    }
    fn capture(&mut self, x: &[f32], out: &mut [f32]) {
        let _ = self.0.set_stream_delay_ms(20);
        let _ = self.0.process_capture_f32(&[x], &mut [out]);
    }
}

/// As Tincan runs it: high-pass and AEC3 in one instance, NS and AGC2 in a second on its
/// output (tincan_media::audio::processing says why).
struct SonoraChained(sonora::AudioProcessing, sonora::AudioProcessing);
impl Processor for SonoraChained {
    fn render(&mut self, x: &[f32]) {
        let mut o = vec![0.0; CHUNK];
        let _ = self.0.process_render_f32(&[x], &mut [&mut o]);
    }
    fn capture(&mut self, x: &[f32], out: &mut [f32]) {
        let mut mid = vec![0.0; CHUNK];
        let _ = self.0.set_stream_delay_ms(20);
        let _ = self.0.process_capture_f32(&[x], &mut [&mut mid]);
        let _ = self.1.process_capture_f32(&[&mid], &mut [out]);
    }
}

struct Aec3(aec3::pipelines::linear::LinearPipeline);
impl Processor for Aec3 {
    fn render(&mut self, x: &[f32]) {
        let _ = self.0.handle_render_frame(x);
    }
    fn capture(&mut self, x: &[f32], out: &mut [f32]) {
        if !self.0.process_capture_frame(x, out).unwrap_or(false) {
            out.fill(0.0);
        }
    }
}

fn sonora_with(echo: bool, clean: bool) -> sonora::AudioProcessing {
    use sonora::config::*;
    let config = sonora::Config {
        high_pass_filter: echo.then(HighPassFilter::default),
        echo_canceller: echo.then(EchoCanceller::default),
        noise_suppression: clean.then(|| NoiseSuppression {
            level: NoiseSuppressionLevel::High,
            ..Default::default()
        }),
        gain_controller2: clean.then(|| GainController2 {
            adaptive_digital: Some(AdaptiveDigital::default()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mono = sonora::StreamConfig::new(RATE as u32, 1);
    sonora::AudioProcessing::builder()
        .config(config)
        .capture_config(mono)
        .render_config(mono)
        .build()
}

/// Each with what Tincan runs: high-pass, AEC3, noise suppression, AGC2 (adaptive digital).
fn make(name: &str) -> Box<dyn Processor> {
    match name {
        "sonora" => Box::new(Sonora(sonora_with(true, true))),
        "sonora, two instances" => Box::new(SonoraChained(
            sonora_with(true, false),
            sonora_with(false, true),
        )),
        _ => {
            let format = aec3::nodes::audio::AudioFormat::ten_ms(RATE as u32, 1);
            let pipeline = aec3::pipelines::linear::builder(format, format)
                .build()
                .expect("aec3 builds its pipeline");
            Box::new(Aec3(pipeline))
        }
    }
}

fn power(x: &[f32]) -> f64 {
    x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / x.len().max(1) as f64
}
fn db(p: f64) -> f64 {
    10.0 * p.max(1e-12).log10()
}

/// Runs the room: `far` on the speaker, `near` into the microphone from `near_at`; the echo
/// delay is `delay(t)`. Returns (microphone, processed, seconds of processing per 10 ms).
fn room(
    p: &mut dyn Processor,
    far: &[f32],
    near: &[f32],
    near_at: usize,
    delay: impl Fn(usize) -> usize,
) -> (Vec<f32>, Vec<f32>, f64) {
    let n = far.len();
    let (mut mic, mut out) = (vec![0.0; n], vec![0.0; n]);
    let mut cost = 0.0;
    let mut t = 0;
    while t + CHUNK <= n {
        let d = delay(t) * RATE / 1000;
        for i in t..t + CHUNK {
            let echo = if i >= d { 0.5 * far[i - d] } else { 0.0 };
            let talk = i.checked_sub(near_at).and_then(|j| near.get(j)).copied().unwrap_or(0.0);
            mic[i] = echo + talk;
        }
        let started = Instant::now();
        p.render(&far[t..t + CHUNK]);
        p.capture(&mic[t..t + CHUNK], &mut out[t..t + CHUNK]);
        cost += started.elapsed().as_secs_f64();
        t += CHUNK;
    }
    (mic, out, cost / (n / CHUNK) as f64)
}

fn envelope_correlation(a: &[f32], b: &[f32]) -> f64 {
    let env = |x: &[f32]| -> Vec<f64> { x.chunks(CHUNK).map(|c| db(power(c)).max(-70.0)).collect() };
    let (ea, eb) = (env(a), env(b));
    let n = ea.len().min(eb.len()) as f64;
    let (ma, mb) = (ea.iter().sum::<f64>() / n, eb.iter().sum::<f64>() / n);
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for (x, y) in ea.iter().zip(&eb) {
        ab += (x - ma) * (y - mb);
        aa += (x - ma).powi(2);
        bb += (y - mb).powi(2);
    }
    ab / (aa * bb).sqrt().max(1e-12)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(far_path), Some(near_path)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: apm-compare FAR.wav NEAR.wav");
        std::process::exit(64);
    };
    let (far1, near) = (load(far_path), load(near_path));
    let mut far = Vec::new();
    while far.len() < 30 * RATE {
        far.extend_from_slice(&far1);
        far.extend(std::iter::repeat_n(0.0, RATE / 2));
    }
    far.truncate(30 * RATE);
    println!("| library | echo removed, 2–10 s (dB) | back to ≥ 20 dB after 100→150 ms (s) | double talk: level vs alone (dB) | double talk: envelope correlation | µs per 10 ms |");
    println!("|---|---|---|---|---|---|");
    for name in ["sonora, two instances", "sonora", "aec3"] {
        // Far end alone; the delay moves at 15 s.
        let mut p = make(name);
        let (mic, out, cost) = room(p.as_mut(), &far, &[], usize::MAX, |t| if t < 15 * RATE { 100 } else { 150 });
        let removed = db(power(&mic[2 * RATE..10 * RATE])) - db(power(&out[2 * RATE..10 * RATE]));
        let back = (15..30)
            .find(|&s| {
                let w = s * RATE..(s + 1) * RATE;
                db(power(&mic[w.clone()])) - db(power(&out[w])) >= 20.0
            })
            .map_or("never".to_owned(), |s| format!("{}", s - 15 + 1));
        // Double talk from 12 s, against the near end alone.
        let at = 12 * RATE;
        let (_, both, _) = room(make(name).as_mut(), &far, &near, at, |_| 100);
        let silent = vec![0.0; far.len()];
        let (_, alone, _) = room(make(name).as_mut(), &silent, &near, at, |_| 100);
        let w = at..(at + near.len()).min(far.len());
        let level = db(power(&both[w.clone()])) - db(power(&alone[w.clone()]));
        let alike = envelope_correlation(&both[w.clone()], &alone[w]);
        println!(
            "| {name} | {removed:.1} | {back} | {level:+.1} | {alike:.2} | {:.0} |",
            cost * 1e6
        );
    }
}
