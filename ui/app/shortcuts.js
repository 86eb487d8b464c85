// The call's keyboard: shortcuts, push-to-talk (hold Space while muted) and the help overlay
// (`?`) that lists them. The list below is the one place the shortcuts are written down: the
// overlay is drawn from it.

const $ = (id) => document.getElementById(id);

export const SHORTCUTS = [
  { keys: ["M", "Ctrl+D"], what: "Mute or unmute" },
  { keys: ["V", "Ctrl+E"], what: "Camera off or on" },
  { keys: ["Hold Space"], what: "Talk while muted (push-to-talk)" },
  { keys: ["Ctrl+Shift+L"], what: "Leave the call" },
  { keys: ["?"], what: "Show or hide this list" },
  { keys: ["Esc"], what: "Close this list" },
];

function drawHelp() {
  const list = $("help-list");
  if (list.childElementCount) return;
  for (const s of SHORTCUTS) {
    const keys = document.createElement("dt");
    s.keys.forEach((k, i) => {
      if (i) keys.append(" or ");
      const kbd = document.createElement("kbd");
      kbd.textContent = k;
      keys.append(kbd);
    });
    const what = document.createElement("dd");
    what.textContent = s.what;
    list.append(keys, what);
  }
}

export function toggleHelp(open = $("help").hidden) {
  drawHelp();
  $("help").hidden = !open;
  if (open) $("help-close").focus();
}

/// Wires the call's keyboard. `call` gives what the keys act on: `app` (the page's state: its
/// `screen`, `micOn` and `talking`), `toggleMic`, `toggleCamera`, `leave`, `setMicMuted`
/// (the microphone alone, without changing the Mute button's state) and `showTalking`.
export function startShortcuts(call) {
  const { app } = call;
  // Push-to-talk opens and closes the microphone in the order the keys moved, even when a
  // change is still on its way to the Rust side.
  let pending = Promise.resolve();
  const talk = (on) => {
    if (on === app.talking) return;
    app.talking = on;
    call.showTalking(on);
    pending = pending.then(() => call.setMicMuted(!on)).catch(() => {});
  };
  // A key released outside the window (or the window left while Space was down) ends it.
  window.addEventListener("blur", () => talk(false));

  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && !$("help").hidden) {
      toggleHelp(false);
      return;
    }
    if (app.screen !== "call") return;
    const ctrl = e.ctrlKey || e.metaKey;
    // Letters typed into a field or a picker are not shortcuts.
    const typing = ["INPUT", "SELECT", "TEXTAREA"].includes(e.target.tagName);
    if (!typing && !ctrl && e.key === " " && (!app.micOn || app.talking)) {
      // Held while muted: talk. (Space does not also press the focused button.)
      e.preventDefault();
      if (!e.repeat) talk(true);
    } else if ((ctrl && e.key.toLowerCase() === "d") || (!typing && !ctrl && e.key === "m")) {
      e.preventDefault();
      // Mute pressed while talking: the microphone stays open, now unmuted for good.
      if (app.talking) {
        app.talking = false;
        call.showTalking(false);
      }
      call.toggleMic();
    } else if ((ctrl && !e.shiftKey && e.key.toLowerCase() === "e") || (!typing && !ctrl && e.key === "v")) {
      e.preventDefault();
      call.toggleCamera();
    } else if (ctrl && e.shiftKey && e.key.toLowerCase() === "l") {
      e.preventDefault();
      call.leave("You left the call.");
    } else if (!typing && !ctrl && e.key === "?") {
      e.preventDefault();
      toggleHelp();
    }
  });
  document.addEventListener("keyup", (e) => {
    if (e.key === " " && app.talking) {
      e.preventDefault();
      talk(false);
    }
  });
  $("help-toggle").addEventListener("click", () => toggleHelp());
  $("help-close").addEventListener("click", () => toggleHelp(false));
}
