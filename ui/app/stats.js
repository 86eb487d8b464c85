// What the statistics about a peer say, as the tile shows them: the quality dot's rating and
// the lines of the statistics panel. Pure functions of a `PeerStats` (crates/call/src/events.rs).

/**
 * good / fair / poor from what arrives: round trip, frame rate, and the audio lost since the
 * stats before (`prev`, or none): the share of audio frames the engine had to conceal.
 */
export function quality(s, prev) {
  if (!s.connected) return "poor";
  const rtt = s.rtt_ms ?? 0;
  const fps = s.fps_received ?? 0;
  const lost = audioLossPercent(s, prev);
  if (rtt > 400 || (s.video_frames_received > 0 && fps < 10) || lost > 20) return "poor";
  if (rtt > 150 || (s.video_frames_received > 0 && fps < 20) || lost > 5) return "fair";
  return "good";
}

/** Percent of the audio frames played since `prev` that were concealed (lost or late). */
export function audioLossPercent(s, prev) {
  const concealed = (s.audio_frames_concealed ?? 0) - (prev?.audio_frames_concealed ?? 0);
  const received = (s.audio_frames_received ?? 0) - (prev?.audio_frames_received ?? 0);
  const played = concealed + received;
  return played > 0 && concealed > 0 ? (100 * concealed) / played : 0;
}

/** The statistics panel's lines; `drawn`: pictures the tile has drawn. */
export function statsText(s, drawn) {
  const size = s.received_size ? `${s.received_size[0]}x${s.received_size[1]}` : "-";
  return [
    `in  ${size} ${fmt(s.fps_received)} fps ${fmt(s.kbps_in)} kbit/s`,
    `out ${fmt(s.fps_sent)} fps ${fmt(s.kbps_out)} kbit/s (fits ${fmt(s.available_send_kbps)})`,
    `rtt ${fmt(s.rtt_ms)} ms  ${s.local_candidate || "?"} → ${s.remote_candidate || "?"}`,
    `jitter audio ${fmt(s.audio_jitter_ms)} ms video ${fmt(s.video_jitter_ms)} ms`,
    `video held ${fmt(s.video_delay_ms)} ms  resent ${s.rtx_packets_sent ?? 0} asked ${s.nacks_sent ?? 0}`,
    `freezes ${s.freezes ?? 0} (${s.freeze_ms ?? 0} ms)  drawn ${drawn}`,
    `my mic: ${processingText(s.audio_processing)}`,
    `theirs: ${processingText(s.remote_audio_processing)}`,
  ].join("\n");
}

/** "echo cancellation, noise suppression (echo 120 ms)", "no processing", or "unknown". */
function processingText(p) {
  if (!p) return "unknown";
  const on = [
    p.echo_cancellation && "echo cancellation",
    p.noise_suppression && "noise suppression",
    p.auto_gain && "auto gain",
  ].filter(Boolean);
  const delay = typeof p.echo_delay_ms === "number" ? ` (echo ${p.echo_delay_ms} ms)` : "";
  return (on.join(", ") || "no processing") + delay;
}

const fmt = (v) => (typeof v === "number" ? Math.round(v) : "-");
