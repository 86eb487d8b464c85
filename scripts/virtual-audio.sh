#!/usr/bin/env bash
# Virtual sound devices for machines without a sound card (CI, servers): a user-space
# PulseAudio daemon with one speaker and one microphone. Source it; it exports PULSE_SERVER
# so cpal (and pactl, pacat, parec) find the daemon.
#
#   tincan_speaker   a null sink: record what is played with  parec -d tincan_speaker.monitor
#   tincan_mic       a microphone that hears whatever is played into the sink tincan_micfeed:
#                    pacat --playback -d tincan_micfeed --format=s16le --rate=48000 --channels=1
#
# The microphone is a remapped monitor of a null sink, so the daemon clocks it; a pipe
# source delivers nothing unless its writer paces itself in real time.
#
# The daemon's cookie is VA_DIR/cookie, named by PULSE_COOKIE, so clients started with a
# HOME of their own (the app tests) still find one: cpal's PulseAudio client sends an empty
# cookie when it finds none, and the daemon then drops it (see crates/media's pulse_cookie).
#
# Shared memory is off (--disable-shm): clients' audio comes over the socket. With it on,
# PulseAudio 16 once aborted in the middle of a full test run (memblock.c: "Assertion
# 'pa_atomic_load(&b->pool->stat.n_imported) > 0' failed" in memblock_replace_import, as a
# client with shared blocks in flight went away: pacat, Chromium, an ALSA plug-in), and every
# later test that touched a sound device failed. Tincan's own client (cpal's pure-Rust
# PulseAudio client) never uses shared memory, so this changes nothing it does.

VA_DIR="${VA_DIR:-${TMPDIR:-/tmp}/tincan-virtual-audio}"
mkdir -p "$VA_DIR/run/pulse"
chmod 700 "$VA_DIR/run"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$VA_DIR/run}"
export PULSE_RUNTIME_PATH="$VA_DIR/run/pulse"
export PULSE_SERVER="unix:$VA_DIR/run/pulse/native"

cat > "$VA_DIR/tincan.pa" <<PA
load-module module-native-protocol-unix auth-anonymous=1 auth-cookie=$VA_DIR/cookie
load-module module-null-sink sink_name=tincan_speaker rate=48000 channels=2 sink_properties=device.description=TincanVirtualSpeaker
load-module module-null-sink sink_name=tincan_micfeed rate=48000 channels=1 sink_properties=device.description=TincanMicFeed
load-module module-remap-source source_name=tincan_mic master=tincan_micfeed.monitor channels=1 source_properties=device.description=TincanVirtualMic
set-default-sink tincan_speaker
set-default-source tincan_mic
PA

if ! pactl info >/dev/null 2>&1; then
  pulseaudio -n -F "$VA_DIR/tincan.pa" --exit-idle-time=-1 --disable-shm=yes --daemonize=yes \
    --use-pid-file=yes --log-target="file:$VA_DIR/pulse.log" --log-level=notice \
    2>>"$VA_DIR/pulse.log" || true
  for _ in $(seq 1 50); do pactl info >/dev/null 2>&1 && break; sleep 0.1; done
fi

if [[ -f "$VA_DIR/cookie" ]]; then
  export PULSE_COOKIE="$VA_DIR/cookie"
fi

if ! pactl info >/dev/null 2>&1; then
  echo "virtual-audio: PulseAudio did not start; see $VA_DIR/pulse.log" >&2
  return 1 2>/dev/null || exit 1
fi
