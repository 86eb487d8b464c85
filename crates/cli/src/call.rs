//! `tincan-cli call`: a headless peer that sends a test pattern (or a file, or a device) and
//! measures what it receives: frames decoded, stamps in order, latency from the stamps, the
//! received tone's frequency, chat. `--stats-json` writes it all down at the end.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use tincan_call::{
    AudioInput, AudioOutput, Call, CallError, CallEvent, CallFeeds, CallOptions, LostInput,
    PeerStats, RoomChoice, VideoInput,
};
use tincan_media::video::VideoFormat;
use tincan_protocol::ErrorCode;

use crate::people;

/// Exit codes a script can tell apart.
pub mod exit {
    pub const UNREACHABLE: u8 = 2;
    pub const ROOM: u8 = 3;
    pub const FAILED: u8 = 4;
    /// `--ring`: the person declined.
    pub const DECLINED: u8 = 5;
    /// `--ring`: nobody answered within the server's ring timeout (30 s by default).
    pub const NO_ANSWER: u8 = 6;
    /// `--ring`: the person is in another call.
    pub const BUSY: u8 = 7;
    /// `--ring`: nobody has that personal code on the server now.
    pub const OFFLINE: u8 = 8;
    pub const USAGE: u8 = 64;
}

mod args;
mod files;
mod measure;
pub use args::CallArgs;
mod parse;
mod server;
use measure::{measure, Received, Sample, SERIES_KEPT};
use parse::{
    muted_at, parse_audio, parse_processing, parse_share, parse_show, parse_switch, parse_video,
    parse_window,
};
use tincan_media::video::ScreenTarget;

type Inputs = (VideoInput, AudioInput, Option<ScreenTarget>, VideoFormat);

fn parse_inputs(args: &CallArgs) -> Result<Inputs, String> {
    let video = parse_video(&args.video)?;
    let audio = parse_audio(&args.audio)?;
    let share = args.share_screen.as_deref().map(parse_share).transpose()?;
    let (w, h) = args
        .size
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
        .ok_or_else(|| format!("--size {}: use WIDTHxHEIGHT, like 1280x720", args.size))?;
    Ok((
        video,
        audio,
        share,
        VideoFormat {
            width: w,
            height: h,
            fps: args.fps,
        },
    ))
}

pub async fn run(args: CallArgs) -> ExitCode {
    let (video, audio, mut share, format) = match parse_inputs(&args) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("tincan-cli: {message}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let switches = (|| -> Result<_, String> {
        let video = match &args.switch_video_at {
            Some(v) => {
                let (secs, input) = parse_switch("--switch-video-at", v)?;
                Some((secs, parse_video(&input)?))
            }
            None => None,
        };
        let audio = match &args.switch_audio_at {
            Some(a) => {
                let (secs, input) = parse_switch("--switch-audio-at", a)?;
                Some((secs, parse_audio(&input)?))
            }
            None => None,
        };
        Ok((video, audio))
    })();
    let mut processing_at = match args
        .audio_processing_at
        .as_deref()
        .map(|v| {
            let (at, setting) = parse_switch("--audio-processing-at", v)?;
            parse_processing(&setting)
                .map(|s| (at, s))
                .map_err(|e| format!("--audio-processing-at {v}: {e}"))
        })
        .transpose()
    {
        Ok(p) => p,
        Err(message) => {
            eprintln!("tincan-cli: {message}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let talk = match args
        .talk
        .iter()
        .map(|window| parse_window("--talk", window))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(windows) => windows,
        Err(message) => {
            eprintln!("tincan-cli: {message}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let share_during = match args
        .share_during
        .as_deref()
        .map(|window| parse_window("--share-during", window))
        .transpose()
    {
        Ok(window) => window,
        Err(message) => {
            eprintln!("tincan-cli: {message}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let (mut switch_video, mut switch_audio) = match switches {
        Ok(s) => s,
        Err(message) => {
            eprintln!("tincan-cli: {message}");
            return ExitCode::from(exit::USAGE);
        }
    };
    let room = match (&args.room, args.create, &args.ring) {
        (Some(code), false, None) => RoomChoice::Join(code.clone()),
        (None, _, Some(_)) | (None, true, None) => RoomChoice::Create,
        _ => {
            eprintln!("tincan-cli: give --room CODE, --create, or --ring CODE");
            return ExitCode::from(exit::USAGE);
        }
    };
    // Who to ring and as whom, checked before anything connects.
    let ring_to = match args.ring.as_deref().map(|to| {
        let code =
            tincan_protocol::PersonalCode::parse(to).map_err(|e| format!("--ring {to}: {e}"))?;
        Ok::<_, String>((code, people::identity(args.identity.as_deref())?))
    }) {
        Some(Err(message)) => {
            eprintln!("tincan-cli: {message}");
            return ExitCode::from(exit::USAGE);
        }
        Some(Ok(found)) => Some(found),
        None => None,
    };
    let mut files = files::Files::new(args.files.clone());
    if let Err(message) = files.check() {
        eprintln!("tincan-cli: {message}");
        return ExitCode::from(exit::USAGE);
    }
    let (server, host) = match server::choose(&args).await {
        Ok(chosen) => chosen,
        Err(code) => return code,
    };
    let mut options = CallOptions::new(server.clone(), room, args.name.clone());
    options.video = video;
    // With a window, the share starts (and stops) on time in the call.
    let sharing_at = |elapsed: f64| share_during.is_none_or(|(a, b)| elapsed >= a && elapsed < b);
    let mut sharing = share.is_some() && sharing_at(0.0);
    options.share = share.clone().filter(|_| sharing);
    options.audio = audio;
    options.audio_processing = args.audio_processing;
    options.format = format;
    options.video_kbps = args.bitrate;
    options.bind = args.bind.clone();
    options.relay_only = args.relay_only;
    options.output = match args.speaker.as_str() {
        "none" => AudioOutput::None,
        "default" => AudioOutput::Speaker(None),
        id => AudioOutput::Speaker(Some(id.to_owned())),
    };
    options.record = args.record.clone();
    options.show_video = match args.show.as_deref().map(parse_show).transpose() {
        Ok(show) => show,
        Err(e) => {
            eprintln!("tincan-cli: {e}");
            return ExitCode::from(exit::USAGE);
        }
    };

    let started = Instant::now();
    let (
        call,
        CallFeeds {
            mut events,
            mut frames,
        },
    ) = match Call::join(options).await {
        Ok(joined) => joined,
        Err(e) => return fail(&e),
    };
    println!("room {}", call.room());
    println!("peer {}", call.peer_id());
    if let Some(dir) = &args.record_webm {
        if let Err(e) = call.start_recording(dir).await {
            let _ = call.leave().await;
            return fail(&e);
        }
    }
    if let Some(link) = host
        .as_ref()
        .and_then(|h| server::guest_link(h, &call.room().to_string()))
    {
        println!("link {link}");
    }

    let mut ringing = match &ring_to {
        Some((to, key)) => {
            match people::Ringing::start(&server, key, *to, &args.name, call.room()).await {
                Ok(ringing) => Some(ringing),
                Err(code) => {
                    let _ = call.leave().await;
                    return code;
                }
            }
        }
        None => None,
    };
    // Set when a ring ends without the call: the exit code to leave with.
    let mut unanswered: Option<u8> = None;

    let deadline = args.duration.map(|s| started + Duration::from_secs_f64(s));
    // Muted from the start when the first --talk window opens later.
    let mut muted = muted_at(0.0, args.mute_after, &talk);
    if muted {
        call.set_mic_muted(true);
    }
    let mut refresh_at = args
        .refresh_video_at
        .map(|s| started + Duration::from_secs_f64(s));
    let mut received: HashMap<String, Received> = HashMap::new();
    let mut chatted: std::collections::HashSet<String> = Default::default();
    let mut last_stats: HashMap<String, PeerStats> = HashMap::new();
    // Who was in the room with us, and whether any connection ever carried media: a call
    // with people to call and no connection did not happen (exit 4).
    let mut met: std::collections::HashSet<String> = Default::default();
    let mut connected_any = false;
    let mut ice_renewals = 0u32;
    let mut frames_open = true;
    loop {
        let wake = deadline
            .map(|d| tokio::time::Instant::from_std(d))
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
        let event = tokio::select! {
            _ = tokio::time::sleep_until(wake) => break,
            _ = tokio::signal::ctrl_c() => break,
            reason = ring_end(&mut ringing), if ringing.is_some() => {
                ringing = None;
                if let Some(code) = people::ring_outcome(reason) {
                    unanswered = Some(code);
                    break;
                }
                None
            }
            // Pictures and sound, measured as they come; the timed steps below run on them
            // too (50 sound frames a second per peer keep them punctual).
            frame = frames.recv(), if frames_open => {
                match frame {
                    Some(frame) => measure(&mut received, frame),
                    None => frames_open = false,
                }
                None
            }
            event = events.recv() => match event {
                Some(event) => Some(event),
                None => break,
            },
        };
        let elapsed = started.elapsed().as_secs_f64();
        if muted_at(elapsed, args.mute_after, &talk) != muted {
            muted = !muted;
            call.set_mic_muted(muted);
            println!("microphone {}", if muted { "muted" } else { "open" });
        }
        if switch_video.as_ref().is_some_and(|(at, _)| elapsed >= *at) {
            if let Some((_, input)) = switch_video.take() {
                match call.set_video_input(input) {
                    Ok(()) => println!("video switched"),
                    Err(e) => eprintln!("tincan-cli: cannot switch the video: {e}"),
                }
            }
        }
        if switch_audio.as_ref().is_some_and(|(at, _)| elapsed >= *at) {
            if let Some((_, input)) = switch_audio.take() {
                match call.set_audio_input(input) {
                    Ok(()) => println!("audio switched"),
                    Err(e) => eprintln!("tincan-cli: cannot switch the audio: {e}"),
                }
            }
        }
        if processing_at.as_ref().is_some_and(|(at, _)| elapsed >= *at) {
            if let Some((_, settings)) = processing_at.take() {
                match call.set_audio_processing(settings).await {
                    Ok(()) => println!("audio processing changed"),
                    Err(e) => eprintln!("tincan-cli: {e}"),
                }
            }
        }
        if share.is_some() && sharing_at(elapsed) != sharing {
            sharing = !sharing;
            let target = share.clone().filter(|_| sharing);
            match call.share_screen(target).await {
                Ok(()) => println!("share {}", if sharing { "started" } else { "stopped" }),
                Err(e) => eprintln!("tincan-cli: cannot change the share: {e}"),
            }
        }
        if refresh_at.is_some_and(|at| Instant::now() >= at) {
            refresh_at = None;
            if let Err(e) = call.refresh_video().await {
                eprintln!("tincan-cli: {e}");
            }
        }
        let Some(event) = event else { continue };
        match event {
            CallEvent::Chat { peer, text } => {
                println!("chat {peer}: {text}");
                received.entry(peer.0).or_default().chat.push(text);
            }
            CallEvent::Connected {
                peer,
                security_code,
            } => {
                connected_any = true;
                println!("connected {peer} security-code {security_code}");
                files.connected(&call, &peer).await;
                if let Some(text) = &args.chat {
                    // Queued by the engine until the chat channel opens.
                    if chatted.insert(peer.0.clone()) {
                        if let Err(e) = call.send_chat(text).await {
                            eprintln!("tincan-cli: chat: {e}");
                        }
                    }
                }
            }
            CallEvent::File(event) => {
                files.on_event(&call, event);
                if files.all_done() {
                    break;
                }
            }
            CallEvent::KeyframeArrived { peer, after_ms } => {
                println!("keyframe {peer} after {after_ms} ms")
            }
            CallEvent::PeerJoined(info) => {
                met.insert(info.id.to_string());
                println!("joined {} {}", info.id, info.name);
            }
            CallEvent::PeerLeft { peer } => println!("left {peer}"),
            CallEvent::Sharing { peer, on } => {
                println!("sharing {peer} {}", if on { "on" } else { "off" });
                let changes = &mut received.entry(peer.0).or_default().sharing;
                if changes.len() < SERIES_KEPT {
                    changes.push((started.elapsed().as_secs_f64(), on));
                }
            }
            CallEvent::Recording { peer, on } => {
                println!("recording {peer} {}", if on { "on" } else { "off" });
            }
            CallEvent::Disconnected { peer, reason } => eprintln!("tincan-cli: {peer}: {reason}"),
            CallEvent::Stats(stats) => {
                let series = &mut received.entry(stats.peer_id.clone()).or_default().series;
                if series.len() == SERIES_KEPT {
                    series.pop_front();
                }
                series.push_back(Sample {
                    t: started.elapsed().as_secs_f64(),
                    kbps_out: stats.kbps_out,
                    kbps_in: stats.kbps_in,
                    available_send_kbps: stats.available_send_kbps,
                    fps_received: stats.fps_received,
                    share_fps_received: stats.share.fps_received,
                    sent_size: stats.sent_size,
                    video_delay_ms: stats.video_delay_ms,
                    rtt_ms: stats.rtt_ms,
                    echo_delay_ms: stats.audio_processing.echo_delay_ms,
                });
                let told = stats.remote_audio_processing;
                let before = last_stats
                    .get(&stats.peer_id)
                    .and_then(|s| s.remote_audio_processing);
                if let Some(p) = told.filter(|p| Some(*p) != before) {
                    let on = |b: bool| if b { "on" } else { "off" };
                    println!(
                        "processing {} echo_cancellation={} noise_suppression={} auto_gain={}",
                        stats.peer_id,
                        on(p.echo_cancellation),
                        on(p.noise_suppression),
                        on(p.auto_gain)
                    );
                }
                last_stats.insert(stats.peer_id.clone(), stats);
            }
            CallEvent::Error { message } => eprintln!("tincan-cli: {message}"),
            CallEvent::ServerLost { reason } => {
                println!("server lost: {reason}; the call goes on");
            }
            CallEvent::ServerBack => println!("server back"),
            CallEvent::IceRenewed { restarted } => {
                ice_renewals += 1;
                println!("ice renewed restarted {}", restarted.len());
            }
            CallEvent::InputLost {
                input: LostInput::Screen,
                reason,
            } => {
                // The window is gone: nothing to share again.
                (share, sharing) = (None, false);
                println!("share ended: {reason}");
            }
            CallEvent::InputLost { input, reason } => {
                eprintln!("tincan-cli: the {input:?} stopped: {reason}; going on without it")
            }
            CallEvent::Ended { reason } => {
                eprintln!("tincan-cli: the call ended: {reason}");
                break;
            }
            CallEvent::Joined { peers, .. } => {
                met.extend(peers.into_iter().map(|p| p.id.to_string()));
            }
        }
    }
    if let Some(ring) = ringing.take() {
        // Leaving before an answer hangs up.
        ring.cancel().await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let ended = Instant::now();
    let room = call.room().to_string();
    let me = call.peer_id().to_string();
    if args.record_webm.is_some() {
        match call.stop_recording().await {
            Ok(files) => files
                .iter()
                .for_each(|f| println!("recorded {}", f.display())),
            Err(e) => eprintln!("tincan-cli: the recording did not end cleanly: {e}"),
        }
    }
    let final_stats = call.leave().await.unwrap_or_default();
    if let Some(host) = host {
        host.stop().await;
    }
    // What arrived while leaving was counted by the engine; measure it here too.
    while let Ok(frame) = frames.try_recv() {
        measure(&mut received, frame);
    }
    for stats in final_stats {
        last_stats.insert(stats.peer_id.clone(), stats);
    }
    let failed_files = files.failed_sends();
    let summary = measure::summarize(measure::Ending {
        files: files.into_records(),
        room,
        me,
        seconds,
        ended,
        ice_renewals,
        received,
        last_stats,
    });
    if let Some(path) = &args.stats_json {
        let written = serde_json::to_string_pretty(&summary)
            .map_err(|e| e.to_string())
            .and_then(|text| std::fs::write(path, text).map_err(|e| e.to_string()));
        if let Err(e) = written {
            eprintln!("tincan-cli: cannot write {}: {e}", path.display());
            return ExitCode::from(exit::FAILED);
        }
    }
    if let Some(code) = unanswered {
        return ExitCode::from(code);
    }
    if failed_files > 0 {
        eprintln!("tincan-cli: {failed_files} file(s) did not arrive");
        return ExitCode::from(exit::FAILED);
    }
    if !met.is_empty() && !connected_any {
        eprintln!(
            "tincan-cli: the call failed: {} other(s) in the room, and no connection to any of \
             them carried media (a firewall, or no path between you: try a TURN server)",
            met.len()
        );
        return ExitCode::from(exit::FAILED);
    }
    ExitCode::SUCCESS
}

/// How the ring under way ends (pending forever without one).
async fn ring_end(ringing: &mut Option<people::Ringing>) -> tincan_protocol::RingEnd {
    match ringing {
        Some(ring) => ring.ended().await,
        None => std::future::pending().await,
    }
}

fn fail(e: &CallError) -> ExitCode {
    eprintln!("tincan-cli: {e}");
    // A server that cannot reach its room store (Redis) now is, for a script, as one that
    // cannot be reached: try again later.
    if e.is_unreachable() || e.refusal() == Some(ErrorCode::Unavailable) {
        return ExitCode::from(exit::UNREACHABLE);
    }
    match e.refusal() {
        Some(ErrorCode::RoomNotFound | ErrorCode::RoomFull | ErrorCode::InvalidRoomCode) => {
            ExitCode::from(exit::ROOM)
        }
        _ => ExitCode::from(exit::FAILED),
    }
}
