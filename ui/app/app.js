// The Tincan window: screens and controls. Media never passes through here except the
// pictures the app sends each tile; everything else is an `invoke` to the Rust side
// (src-tauri/src/commands.rs) and events from it.
//
// `window.tincan` exposes the state for tests and curious people.

import { EVENTS, invoke, on } from "./api.js";
import { ADVICE, TITLES } from "./errors.js";
import { startFiles } from "./files.js";
import { initials, startPeers } from "./peers.js";
import { startRecording } from "./recording.js";
import { pickScreen } from "./share.js";
import { offerPerson, startPeople } from "./people.js";
import { askLanHosting, followLink } from "./reach.js";
import { startSettings } from "./settings.js";
import { startShortcuts } from "./shortcuts.js";
import { tileResize, watchTile } from "./tiles.js";


const $ = (id) => document.getElementById(id);

const app = {
  screen: "home",
  settings: null,
  devices: { cameras: [], microphones: [], speakers: [] },
  room: null, // the room to join (null: a new one)
  linkServer: null, // the server a followed link named (null: the usual way)
  joined: null, // { room, me, share_link, app_link }
  peers: new Map(), // id → { name, tile, stats, security_code }
  tiles: {}, // tile id → { drawn, fingerprint, width, height, path: "socket" | "channel" }
  chat: [],
  errors: [],
  micOn: true,
  talking: false, // Space held while muted (push-to-talk)
  speaker: null, // the peer id of the active speaker, if anyone speaks
  cameraOn: true,
  sharing: false, // the screen goes in place of the camera
  lastAction: null,
  ended: null,
  preview: null, // "starting CAMERA", "on CAMERA", "failed"
};
window.tincan = app;

// ---------- errors ----------

function showError(e, retry) {
  const kind = e?.kind || "call";
  const message = e?.message || String(e);
  app.errors.push({ kind, message });
  $("error-title").textContent = TITLES[kind] || "Something went wrong";
  $("error-message").textContent = message;
  $("error-advice").textContent = ADVICE[kind] || "";
  $("error").dataset.kind = kind;
  $("error-retry").hidden = !retry;
  app.lastAction = retry || null;
  $("error").hidden = false;
  (retry ? $("error-retry") : $("error-close")).focus();
}

function clearError() {
  $("error").hidden = true;
}

function notice(text) {
  $("notice").textContent = text;
  $("notice").hidden = false;
  clearTimeout(notice.timer);
  notice.timer = setTimeout(() => ($("notice").hidden = true), 8000);
}

// ---------- screens ----------

function show(screen) {
  for (const s of ["home", "prejoin", "call", "ended", "settings", "link-ask"]) {
    $(s).hidden = s !== screen;
  }
  app.screen = screen;
  const first = $(screen).querySelector("input, select, button");
  first?.focus();
}

function fillSelect(select, choices, chosen, extra = []) {
  select.replaceChildren();
  for (const c of [...extra, ...choices]) {
    const option = new Option(c.name, c.id);
    select.add(option);
  }
  if ([...select.options].some((o) => o.value === chosen)) select.value = chosen;
}

// What the person picked on this visit to the pre-join screen outlives a refill of its
// pickers (the list still loading as they pick, a device plugged in): only a new visit
// starts again from the settings.
const PREJOIN_PICKERS = ["camera", "microphone", "speaker"];
const pickedOr = (id, saved) => ($(id).dataset.picked ? $(id).value : saved);

async function loadDevices() {
  app.devices = await invoke("list_devices");
  const s = app.settings;
  const none = [{ id: "none", name: "None" }];
  const def = [{ id: "", name: "System default" }];
  fillSelect($("camera"), app.devices.cameras, pickedOr("camera", s.camera), app.devices.cameras.length > 1 ? [] : none);
  fillSelect($("microphone"), app.devices.microphones, pickedOr("microphone", s.microphone), app.devices.microphones.length ? def : none);
  fillSelect($("speaker"), app.devices.speakers, pickedOr("speaker", s.speaker), app.devices.speakers.length ? def : none);
  fillSelect($("call-camera"), app.devices.cameras, $("camera").value, none);
  fillSelect($("call-microphone"), app.devices.microphones, $("microphone").value, [...def, ...none]);
  fillSelect($("call-speaker"), app.devices.speakers, $("speaker").value, [...def, ...none]);
  fillSelect($("default-camera"), app.devices.cameras, s.camera, [{ id: "", name: "First camera" }]);
  fillSelect($("default-microphone"), app.devices.microphones, s.microphone, def);
  fillSelect($("default-speaker"), app.devices.speakers, s.speaker, def);
}

function renderRecent() {
  const list = $("recent");
  list.replaceChildren();
  for (const room of app.settings.recent_rooms) {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "ghost";
    button.textContent = room;
    button.setAttribute("aria-label", `Join room ${room}`);
    button.addEventListener("click", () => toPrejoin(room));
    li.append(button);
    list.append(li);
  }
  $("recent-card").hidden = app.settings.recent_rooms.length === 0;
}

const peers = startPeers(app, notice);
const recording = startRecording(app, notice, (e) => showError(e));
const { showStats } = peers;
const files = startFiles(app, { showError, notice });
function addPeer(peer) {
  peers.addPeer(peer);
  files.peersChanged();
}
function removePeer(id) {
  peers.removePeer(id);
  files.peersChanged();
}

// ---------- pre-join ----------

// Your own picture goes to one canvas at a time: the preview before joining, the small tile
// in a call. The app keeps one sink per tile, so the canvas showing "self" is watched anew
// whenever that changes (a Rejoin or a New call after a call goes back to the preview).
let selfCanvas = null;

function watchSelf(canvas) {
  if (selfCanvas === canvas && app.tiles.self) return;
  app.tiles.self?.close?.();
  selfCanvas = canvas;
  canvas.dataset.tile = "self";
  watchTile(app.tiles, "self", canvas);
}

async function toPrejoin(room, server = null) {
  clearError();
  for (const id of PREJOIN_PICKERS) delete $(id).dataset.picked;
  app.room = room || null;
  app.linkServer = server;
  $("prejoin-title").textContent = room ? `Join ${room}` : "Start a new call";
  show("prejoin");
  await loadDevices();
  startPreview();
}

async function startPreview() {
  watchSelf($("preview-canvas"));
  const camera = $("camera").value;
  const noCamera = camera === "none";
  $("preview-avatar").hidden = !noCamera;
  $("preview-avatar").textContent = initials($("name").value);
  app.preview = `starting ${camera}`;
  try {
    await invoke("start_preview", { camera, microphone: $("microphone").value });
    app.preview = `on ${camera}`;
  } catch (e) {
    app.preview = "failed";
    showError(e, startPreview);
  }
}

async function join() {
  clearError();
  const request = {
    room: app.room,
    name: $("name").value,
    camera: $("camera").value,
    microphone: $("microphone").value,
    speaker: $("speaker").value,
    camera_on: $("join-camera").checked,
    mic_on: $("join-mic").checked,
    server: app.linkServer,
  };
  $("join").disabled = true;
  $("join").textContent = "Joining…";
  try {
    const joined = await invoke("join", { request });
    app.joined = joined;
    app.room = joined.room;
    app.micOn = request.mic_on;
    app.cameraOn = request.camera_on;
    enterCall(joined);
  } catch (e) {
    showError(e, join);
    if (["room-not-found", "room-full", "not-on-network"].includes(e?.kind)) show("home");
  } finally {
    $("join").disabled = false;
    $("join").textContent = "Join now";
  }
}

// ---------- in call ----------

function enterCall(joined) {
  $("call-room").textContent = joined.room;
  $("copy-app-link").hidden = !joined.app_link;
  app.talking = false;
  app.sharing = false;
  setToggle("share-screen", false, "Stop sharing", "Share screen");
  recording.reset();
  files.reset();
  show("call");
  watchSelf($("self-canvas"));
  tileResize.observe($("self-canvas"));
  setToggle("mute", !app.micOn, "Unmute", "Mute");
  setToggle("camera-toggle", !app.cameraOn, "Camera on", "Camera off");
  $("self-avatar").hidden = app.cameraOn && $("camera").value !== "none";
  $("self-avatar").textContent = initials($("name").value);
  $("call-camera").value = $("camera").value;
  $("call-microphone").value = $("microphone").value;
  $("call-speaker").value = $("speaker").value;
  $("mute").focus();
}

function setToggle(id, pressed, onText, offText) {
  $(id).setAttribute("aria-pressed", String(pressed));
  $(id).textContent = pressed ? onText : offText;
}

async function toggleMic() {
  const muted = app.micOn;
  try {
    await invoke("set_mic_muted", { muted });
    app.micOn = !muted;
    setToggle("mute", muted, "Unmute", "Mute");
  } catch (e) {
    showError(e);
  }
}

// Push-to-talk: the microphone opens while Space is held, the Mute button saying so, and
// `app.micOn` (the button's state) does not change.
async function setMicMuted(muted) {
  try {
    await invoke("set_mic_muted", { muted });
  } catch (e) {
    showError(e);
  }
}

function showTalking(on) {
  $("mute").classList.toggle("talking", on);
  if (on) $("mute").textContent = "Talking…";
  else setToggle("mute", !app.micOn, "Unmute", "Mute");
}

async function toggleCamera() {
  const off = app.cameraOn;
  try {
    await invoke("set_camera_off", { off });
    app.cameraOn = !off;
    setToggle("camera-toggle", off, "Camera on", "Camera off");
    $("self-avatar").hidden = !off;
  } catch (e) {
    showError(e);
  }
}

// The screen goes to everyone beside the camera, on a track of its own (docs/media.md).
// Sharing asks which screen or window first (share.js); stopping does not.
async function toggleScreen() {
  const on = !app.sharing;
  try {
    const target = on ? await pickScreen(app) : null;
    if (on && target === null) return;
    await invoke("share_screen", { on, target });
    app.sharing = on;
    setToggle("share-screen", on, "Stop sharing", "Share screen");
    notice(on ? "You are sharing your screen." : "You stopped sharing your screen.");
  } catch (e) {
    showError(e);
  }
}

async function leave(reason) {
  try {
    await invoke("leave");
  } catch (e) {
    if (e?.kind !== "not-in-call") showError(e);
  }
  endCall(reason || "");
}

function endCall(reason) {
  for (const id of [...app.peers.keys()]) removePeer(id);
  // Space still held as the call ends: its release has nothing left to mute.
  app.talking = false;
  $("mute").classList.remove("talking");
  $("notice").hidden = true;
  app.ended = reason;
  $("ended-reason").textContent = reason;
  show("ended");
}

async function switchDevice(kind, select) {
  try {
    await invoke("switch_device", { kind, id: select.value });
    if (kind === "camera") $("self-avatar").hidden = select.value !== "none" && app.cameraOn;
  } catch (e) {
    showError(e, () => switchDevice(kind, select));
  }
}

async function sendChat(event) {
  event.preventDefault();
  const text = $("chat-text").value.trim();
  if (!text) return;
  try {
    await invoke("send_chat", { text });
    addChat("You", text);
    $("chat-text").value = "";
  } catch (e) {
    showError(e);
  }
}

function addChat(from, text) {
  app.chat.push({ from, text });
  const li = document.createElement("li");
  const who = document.createElement("strong");
  who.textContent = from;
  li.append(who, document.createTextNode(` ${text}`));
  $("chat-log").append(li);
  li.scrollIntoView({ block: "end" });
  if ($("chat").hidden) $("chat-toggle").classList.add("unread");
}

// ---------- events from the app ----------

on(EVENTS.previewLevel, (payload) => {
  const percent = Math.min(100, Math.round(Math.sqrt(payload) * 180));
  $("mic-level").style.width = `${percent}%`;
  $("mic-meter").setAttribute("aria-valuenow", String(percent));
});
on(EVENTS.peerJoined, (payload) => addPeer(payload));
on(EVENTS.peerLeft, (payload) => removePeer(payload));
on(EVENTS.sharing, ({ peer, on: sharing }) => peers.showShare(peer, sharing));
on(EVENTS.connected, (payload) => {
  const peer = app.peers.get(payload.peer);
  if (peer) {
    peer.security_code = payload.security_code;
    peer.tile.querySelector(".label").textContent = peer.name;
    peer.tile.classList.remove("reconnecting");
    const code = peer.tile.querySelector(".security-code");
    code.textContent = `Security code ${payload.security_code}`;
    code.hidden = false;
  }
});
on(EVENTS.disconnected, (payload) => {
  const peer = app.peers.get(payload.peer);
  notice(`Lost the connection to ${peer?.name || "a peer"}: ${payload.reason}; reconnecting…`);
  if (peer) {
    // The engine restarts the connection; the tile says so until it is back.
    peer.tile.querySelector(".label").textContent = `${peer.name} · reconnecting…`;
    peer.tile.classList.add("reconnecting");
  }
});
on(EVENTS.server, (payload) => {
  // Media goes peer to peer, so losing the server ends nothing; say so until it is back.
  notice(
    payload.connected
      ? "Back in touch with the server."
      : `Connection to the server lost (${payload.reason}); the call goes on. Reconnecting…`,
  );
});
on(EVENTS.chat, (payload) => addChat(app.peers.get(payload.peer)?.name || "Someone", payload.text));
on(EVENTS.stats, (payload) => showStats(payload));
on(EVENTS.error, (payload) => notice(payload));
on(EVENTS.inputLost, (payload) => {
  if (payload.input === "screen") {
    app.sharing = false;
    setToggle("share-screen", false, "Stop sharing", "Share screen");
    notice(`Your screen share ended (${payload.reason}).`);
    return;
  }
  const what = payload.input === "camera" ? "camera" : "microphone";
  const now = payload.now ? `now using ${payload.now}` : `the call goes on without a ${what}`;
  notice(`Your ${what} stopped (${payload.reason}); ${now}.`);
  if (what === "camera" && !payload.now) $("self-avatar").hidden = false;
  loadDevices().catch(() => {});
});
on(EVENTS.devicesChanged, () => loadDevices().catch(() => {}));
on(EVENTS.ended, (payload) => {
  // The engine ended the call (the server gave up): let the app drop it too, so a new join
  // is not refused as "already in a call".
  invoke("leave").catch(() => {});
  if (app.screen === "call") endCall(payload);
});
// A link naming a new server asks first, with the camera and microphone off.
async function openLink(link) {
  if (link.ask) await invoke("stop_preview").catch(() => {});
  followLink(link, show, toPrejoin);
}
on(EVENTS.linkJoin, (payload) => {
  if (app.screen !== "call") openLink(payload);
});

// ---------- wiring ----------

$("create").addEventListener("click", () => toPrejoin(null));
$("join-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const code = $("room-code").value.trim();
  if (!code) {
    showError({ kind: "room-not-found", message: "Type the room code you were given." });
    return;
  }
  toPrejoin(code);
});
$("name").addEventListener("change", () => {
  app.settings.name = $("name").value;
  invoke("save_settings", { settings: app.settings }).catch((e) => showError(e));
});
for (const id of PREJOIN_PICKERS) {
  $(id).addEventListener("change", (e) => { e.currentTarget.dataset.picked = "1"; });
}
$("camera").addEventListener("change", startPreview);
$("microphone").addEventListener("change", startPreview);
$("test-speaker").addEventListener("click", async () => {
  try {
    await invoke("test_speaker", { speaker: $("speaker").value });
  } catch (e) {
    showError(e);
  }
});
$("test-devices").addEventListener("click", async () => {
  const button = $("test-devices");
  button.disabled = true;
  $("device-test-result").textContent = "Listening for a short sound from your speaker…";
  try {
    const found = await invoke("test_devices", { microphone: $("microphone").value, speaker: $("speaker").value });
    $("device-test-result").textContent = found.summary;
    $("device-test-result").dataset.hears = String(found.hears_speaker);
  } catch (e) {
    $("device-test-result").textContent = "";
    showError(e);
  } finally {
    button.disabled = false;
    await startPreview();
  }
});
$("prejoin-back").addEventListener("click", async () => {
  await invoke("stop_preview");
  show("home");
});
$("join").addEventListener("click", join);
$("mute").addEventListener("click", toggleMic);
$("camera-toggle").addEventListener("click", toggleCamera);
$("share-screen").addEventListener("click", toggleScreen);
$("leave").addEventListener("click", () => leave("You left the call."));
$("devices-toggle").addEventListener("click", (e) => {
  const open = $("devices").hidden;
  $("devices").hidden = !open;
  e.currentTarget.setAttribute("aria-expanded", String(open));
});
$("chat-toggle").addEventListener("click", (e) => {
  const open = $("chat").hidden;
  $("chat").hidden = !open;
  e.currentTarget.setAttribute("aria-expanded", String(open));
  e.currentTarget.classList.remove("unread");
  if (open && !$("files").hidden) $("files-toggle").click();
  if (open) $("chat-text").focus();
});
$("stats-toggle").addEventListener("click", (e) => {
  const on = e.currentTarget.getAttribute("aria-pressed") !== "true";
  e.currentTarget.setAttribute("aria-pressed", String(on));
  document.querySelectorAll(".tile .stats").forEach((s) => (s.hidden = !on));
});
$("call-camera").addEventListener("change", (e) => switchDevice("camera", e.currentTarget));
$("call-microphone").addEventListener("change", (e) => switchDevice("microphone", e.currentTarget));
$("call-speaker").addEventListener("change", (e) => switchDevice("speaker", e.currentTarget));
$("chat-form").addEventListener("submit", sendChat);
async function copy(text, what) {
  try {
    await navigator.clipboard.writeText(text);
    notice(`${what} copied`);
  } catch {
    notice(`Share this link: ${text}`);
  }
}
$("copy-link").addEventListener("click", () => copy(app.joined?.share_link || app.joined?.room || "", "Link"));
$("copy-app-link").addEventListener("click", () => copy(app.joined?.app_link || "", "App link"));
$("rejoin").addEventListener("click", () => toPrejoin(app.room));
$("home-again").addEventListener("click", () => {
  renderRecent();
  show("home");
});
startSettings({ app, show, loadDevices, clearError, showError });
$("error-close").addEventListener("click", clearError);
$("error-retry").addEventListener("click", () => {
  clearError();
  app.lastAction?.();
});

// Straight into `room` (null: a new one) with the chosen devices, no pre-join screen: for
// answering a ring and calling a contact. The joined room, or null (the error is shown).
async function joinRoom(room) {
  if (app.screen === "call") return null;
  await invoke("stop_preview").catch(() => {});
  app.room = room;
  app.linkServer = null;
  app.joined = null;
  await loadDevices();
  await join();
  return app.screen === "call" ? app.joined : null;
}

async function start() {
  const info = await invoke("app_info");
  app.settings = info.settings;
  $("name").value = info.settings.name;
  renderRecent();
  if (info.settings_problem) showError({ kind: "settings", message: info.settings_problem });
  askLanHosting(info.settings, async (allow) => {
    app.settings = await invoke("save_settings", { settings: { ...app.settings, lan_hosting: allow } });
  });
  if (info.link) openLink(info.link);
  if (info.person) offerPerson(info.person);
  startPeople(app, { joinRoom, leave, showError, notice, copy });
}

startShortcuts({ app, toggleMic, toggleCamera, leave, setMicMuted, showTalking });
start().catch((e) => showError(e));
