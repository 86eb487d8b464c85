// Recording the call (src-tauri/src/recording.rs): the record button, the red dot on our
// own tile while we record, and on the tile of anyone else who records — nobody is recorded
// without seeing it.

import { EVENTS, invoke, on } from "./api.js";

const $ = (id) => document.getElementById(id);

/// Wires the record button; `notice` says what happened, `showError` what went wrong.
/// Returns `reset()`, for a new call.
export function startRecording(app, notice, showError) {
  app.recording = false;

  function show(on) {
    app.recording = on;
    const button = $("record");
    button.setAttribute("aria-pressed", String(on));
    button.textContent = on ? "Stop recording" : "Record";
    $("self-tile").classList.toggle("recording", on);
  }

  async function toggle() {
    const button = $("record");
    button.disabled = true;
    try {
      if (!app.recording) {
        const started = await invoke("start_recording");
        show(true);
        notice(`Recording: everyone in the call sees it. Files go to ${started.folder}.`);
      } else {
        const stopped = await invoke("stop_recording");
        show(false);
        const n = stopped.files.length;
        notice(n
          ? `Recording saved: ${n} file${n === 1 ? "" : "s"} in ${stopped.folder}.`
          : "Recording stopped; nobody was there to record.");
      }
    } catch (e) {
      showError(e);
    } finally {
      button.disabled = false;
    }
  }

  $("record").addEventListener("click", toggle);
  on(EVENTS.recording, ({ peer: id, on: recording }) => {
    const peer = app.peers.get(id);
    if (!peer) return;
    peer.recording = recording;
    peer.tile.classList.toggle("recording", recording);
    notice(recording ? `${peer.name} is recording the call` : `${peer.name} stopped recording`);
  });

  return { reset: () => show(false) };
}
