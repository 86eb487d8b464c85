// Tincan in a browser: a guest joins a room with the browser's own camera, microphone and
// WebRTC, speaking the same protocol as the app (docs/protocol.md) and negotiating the same
// way (docs/calls.md): the newcomer offers to everyone already there, one peer connection per
// remote peer, chat on a data channel labelled "chat", files on channels labelled "file"
// (files.js), a screen share on each connection's second video m-section (share.js).
//
// `window.tincan` exposes the call's state and a stats reader for tests and curious people.

import { Signaling } from "/shared/signaling.js";
import { scheduleIceRenewal } from "/guest/renewal.js";
import { commitmentTo, fingerprintsOf, makeIdentity, securityCode } from "/guest/security.js";
import { selectedPair, statsOf } from "/guest/stats.js";
import { AudioMeter } from "/guest/meter.js";
import { FILE_LABEL, Transfers, renderRecipients, renderTransfers } from "/guest/files.js";
import { ShareTile, addShareSection, openShareSection, pickScreen, sendShare, shareMid } from "/guest/share.js";

const $ = (id) => document.getElementById(id);

const call = {
  signaling: null,
  me: null,
  room: null,
  stream: null,
  peers: new Map(), // id → Peer
  identity: null, // our certificate, its fingerprints and our commitment (security.js)
  commitments: new Map(), // peer id → the first commitment it sent, kept until it leaves
  chat: [], // { from, text }
  errors: [],
  ended: {}, // peer id → its last stats, kept when it leaves
  serverConnected: false, // false while the server connection is down (the call goes on)
  // Echo cancellation, noise suppression and gain control on the microphone: what a call
  // needs, but they treat a steady test tone as noise, so tests turn them off.
  audioProcessing: true,
  state: "idle", // idle → joining → in-call → left
  iceRenewals: 0, // times fresh TURN credentials came (scheduleIceRenewal)
  sharing: null, // our screen's track while we share it
};
window.tincan = call;
// Files sent and received (files.js); `call.files` is their list, for tests and the view.
const transfers = new Transfers(() => renderTransfers($("file-list"), transfers));
call.files = transfers.list;
call.savedFile = (id) => transfers.saved.get(id); // a received file's Blob

/** The room in the address (/r/CODE), if any. */
function roomFromPath() {
  const match = location.pathname.match(/^\/r\/([^/]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

function showError(message) {
  call.errors.push(message);
  const box = $("error");
  box.textContent = message;
  box.hidden = false;
}

function clearError() {
  $("error").hidden = true;
}

// ---------- devices ----------

async function openStream() {
  const camera = $("camera").value;
  const microphone = $("microphone").value;
  const constraints = {
    video: camera === "none" ? false : { deviceId: camera ? { exact: camera } : undefined, width: 640, height: 360 },
    audio: microphone === "none" ? false : {
      deviceId: microphone ? { exact: microphone } : undefined,
      echoCancellation: call.audioProcessing,
      noiseSuppression: call.audioProcessing,
      autoGainControl: call.audioProcessing,
    },
  };
  if (!constraints.video && !constraints.audio) {
    return new MediaStream();
  }
  try {
    return await navigator.mediaDevices.getUserMedia(constraints);
  } catch (e) {
    const what = e.name === "NotAllowedError" ? "The browser was not allowed to use the camera or microphone; allow it in the address bar and try again."
      : e.name === "NotFoundError" ? "No camera or microphone was found; plug one in, or choose none."
      : e.name === "NotReadableError" ? "The camera or microphone is in use by another app; close it and try again."
      : `The camera or microphone could not be opened: ${e.message}`;
    throw new Error(what);
  }
}

async function listDevices() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  for (const [select, kind] of [["camera", "videoinput"], ["microphone", "audioinput"], ["speaker", "audiooutput"]]) {
    const element = $(select);
    const chosen = element.value;
    element.replaceChildren();
    for (const device of devices.filter((d) => d.kind === kind)) {
      element.append(new Option(device.label || `${kind} ${element.length + 1}`, device.deviceId));
    }
    if (select !== "speaker") {
      element.append(new Option("none", "none"));
    }
    if ([...element.options].some((o) => o.value === chosen)) {
      element.value = chosen;
    }
  }
}

async function preview() {
  try {
    clearError();
    call.stream?.getTracks().forEach((t) => t.stop());
    call.stream = await openStream();
    $("self").srcObject = call.stream;
    await listDevices(); // labels appear once permission is granted
  } catch (e) {
    showError(e.message);
  }
}

/** Puts the newly chosen camera or microphone on every connection, without renegotiating. */
async function switchDevice(kind) {
  if (call.state !== "in-call") {
    return preview();
  }
  try {
    const fresh = await openStream();
    const track = fresh.getTracks().find((t) => t.kind === kind) || null;
    for (const old of call.stream.getTracks().filter((t) => t.kind === kind)) {
      old.stop();
      call.stream.removeTrack(old);
    }
    if (track) {
      call.stream.addTrack(track);
    }
    fresh.getTracks().filter((t) => t !== track).forEach((t) => t.stop());
    for (const peer of call.peers.values()) {
      const sender = peer.pc.getSenders().find((s) => s.track?.kind === kind || s === peer.senders[kind]);
      await sender?.replaceTrack(track);
    }
    $("self").srcObject = call.stream;
  } catch (e) {
    showError(e.message);
  }
}

// ---------- peers ----------

class Peer {
  constructor(info, iceServers, offering) {
    this.id = info.id;
    this.name = info.name;
    this.polite = call.me < info.id; // the smaller id yields (docs/protocol.md)
    this.makingOffer = false;
    this.pending = [];
    this.channel = null;
    this.senders = {};
    this.offerHeld = false;
    this.securityCode = null;
    this.pc = new RTCPeerConnection({ iceServers, certificates: [call.identity.certificate] });
    for (const track of call.stream.getTracks()) {
      const sender = this.pc.addTrack(track, call.stream);
      this.senders[track.kind] = sender;
      if (track.kind === "video") {
        // Keep the size (the stamps a test reads need it); drop frames instead.
        const parameters = sender.getParameters();
        parameters.degradationPreference = "maintain-resolution";
        sender.setParameters(parameters).catch(() => {});
      }
    }
    this.pc.onicecandidate = ({ candidate }) => {
      call.signaling.signal(this.id, candidate ? { kind: "candidate", candidate: candidate.toJSON() } : { kind: "end_of_candidates" });
    };
    // The second video m-section is the far end's screen share (docs/protocol.md).
    this.pc.ontrack = ({ track, transceiver }) => {
      if (track.kind === "video" && transceiver.mid === shareMid(this.pc)) this.shareTile.show(track);
      else this.show(track);
    };
    this.pc.ondatachannel = ({ channel }) => {
      if (channel.label === "chat") {
        this.useChannel(channel);
      } else if (channel.label === FILE_LABEL) {
        transfers.receive(this, channel);
      }
    };
    this.pc.onconnectionstatechange = () => {
      if (this.pc.connectionState === "connected") {
        this.showSecurityCode();
        if (call.sharing) this.sendOurShare();
      }
      this.render();
    };
    // A path that fails is restarted by the impolite side (docs/calls.md, "When things break");
    // the native engine does the same, so one of the two always does.
    this.pc.oniceconnectionstatechange = () => {
      if (this.pc.iceConnectionState === "failed" && !this.polite) {
        this.pc.restartIce();
        this.offer();
      }
    };
    this.tile = this.makeTile();
    this.shareTile = new ShareTile(this, $("tiles"));
    // Our commitment goes before anything that shows our fingerprint (docs/calls.md).
    call.signaling.signal(this.id, { kind: "commit", hash: call.identity.commitment, reply: !call.commitments.has(this.id) });
    if (offering) {
      addShareSection(this.pc, call.stream.getVideoTracks().length > 0);
      this.useChannel(this.pc.createDataChannel("chat"));
      this.offer();
    }
  }

  makeTile() {
    const tile = document.createElement("figure");
    tile.className = "tile";
    tile.dataset.peer = this.id;
    const video = document.createElement("video");
    video.autoplay = true;
    video.playsInline = true;
    const caption = document.createElement("figcaption");
    const code = document.createElement("p");
    code.className = "security-code";
    code.title = "Read this to each other: if it matches, nobody sits between you.";
    tile.append(video, caption, code);
    $("tiles").append(tile);
    this.video = video;
    this.caption = caption;
    this.codeLine = code;
    this.render();
    return tile;
  }

  render() {
    this.caption.textContent = `${this.name} · ${this.pc.connectionState}`;
    this.codeLine.textContent = this.securityCode ? `Security code ${this.securityCode}` : "";
  }

  /** The code for this connection, from both certificates (as the app shows it). */
  async showSecurityCode() {
    const remote = fingerprintsOf(this.pc.remoteDescription?.sdp || "");
    if (remote.length === 0) return;
    const mine = { peer: call.me, fingerprints: call.identity.fingerprints };
    this.securityCode = await securityCode(call.room, mine, { peer: this.id, fingerprints: remote });
    this.render();
  }

  /** A commitment from the far end: the first is kept, a different one refused. */
  onCommitment(hash, reply) {
    const known = call.commitments.get(this.id);
    if (known && known !== hash) {
      showError(`${this.name} sent a different security commitment mid-call: ignored (someone may be trying to sit between you).`);
      return;
    }
    call.commitments.set(this.id, hash);
    if (reply) {
      call.signaling.signal(this.id, { kind: "commit", hash: call.identity.commitment });
    }
    if (this.offerHeld) {
      this.offerHeld = false;
      this.offer();
    }
  }

  /** Whether a description shows the fingerprints its sender committed to. */
  async keepsCommitment(sdp) {
    const known = call.commitments.get(this.id);
    const shown = fingerprintsOf(sdp);
    if (known && shown.length > 0 && (await commitmentTo(shown)) === known) return true;
    showError(known
      ? `${this.name}'s certificate is not the one it committed to: the connection is refused (someone may be trying to sit between you).`
      : `${this.name} sent an offer or answer before its security commitment: refused.`);
    return false;
  }

  show(track) {
    // One stream per peer for its picture and its sound, whatever streams the far end used.
    this.media ??= new MediaStream();
    this.media.addTrack(track);
    this.video.srcObject = this.media;
    if (track.kind === "audio") {
      this.meter = new AudioMeter(track);
    }
    const speaker = $("speaker").value;
    if (speaker && this.video.setSinkId) {
      this.video.setSinkId(speaker).catch(() => {});
    }
  }

  useChannel(channel) {
    this.channel = channel;
    // As the app does (crates/call/src/chat.rs): at most 4096 bytes a message and 10 a
    // second from one peer; the rest is dropped, so a flood cannot bury the chat.
    let windowStart = 0;
    let shown = 0;
    channel.onmessage = ({ data }) => {
      if (typeof data !== "string" || new TextEncoder().encode(data).length > 4096) return;
      const now = performance.now();
      if (now - windowStart >= 1000) {
        windowStart = now;
        shown = 0;
      }
      if (shown >= 10) return;
      shown += 1;
      addChat(this.name, data);
    };
  }

  async offer() {
    if (!call.commitments.has(this.id)) {
      this.offerHeld = true; // our offer shows our fingerprint: not before theirs is promised
      return;
    }
    try {
      this.makingOffer = true;
      await this.pc.setLocalDescription();
      call.signaling.signal(this.id, { kind: "offer", sdp: this.pc.localDescription.sdp });
    } catch (e) {
      showError(`Could not call ${this.name}: ${e.message}`);
    } finally {
      this.makingOffer = false;
    }
  }

  async onSignal(signal) {
    try {
      if (signal.kind === "commit") {
        this.onCommitment(signal.hash, signal.reply === true);
      } else if (signal.kind === "offer" || signal.kind === "answer") {
        if (!(await this.keepsCommitment(signal.sdp))) return;
        const collision = signal.kind === "offer" && (this.makingOffer || this.pc.signalingState !== "stable");
        if (collision && !this.polite) {
          return; // the impolite peer keeps its own offer
        }
        await this.pc.setRemoteDescription({ type: signal.kind, sdp: signal.sdp });
        for (const candidate of this.pending.splice(0)) {
          await this.pc.addIceCandidate(candidate).catch(() => {});
        }
        if (signal.kind === "offer") {
          openShareSection(this.pc);
          await this.pc.setLocalDescription();
          call.signaling.signal(this.id, { kind: "answer", sdp: this.pc.localDescription.sdp });
        }
      } else if (signal.kind === "sharing") {
        this.shareTile.on = signal.on === true;
      } else if (signal.kind === "recording") {
        // They record the call (docs/protocol.md, "Recording"): a red dot on their tile.
        const on = signal.on === true;
        this.tile.classList.toggle("recording", on);
        this.tile.title = on ? `${this.name} is recording the call` : "";
      } else if (signal.kind === "candidate") {
        if (this.pc.remoteDescription) {
          await this.pc.addIceCandidate(signal.candidate).catch(() => {});
        } else {
          this.pending.push(signal.candidate);
        }
      }
    } catch (e) {
      showError(`Negotiating with ${this.name} failed: ${e.message}`);
    }
  }

  /** Whether the path in use goes through a TURN relay (at either end). */
  /** Whether the path in use goes through a relay allocation of ours (not the far end's). */
  async throughOurRelay() {
    const report = await this.pc.getStats();
    const pair = selectedPair(report);
    return report.get(pair?.localCandidateId)?.candidateType === "relay";
  }

  /** Our screen (or, after a share, nothing) on this connection, and the far end told. */
  async sendOurShare() {
    const track = call.sharing;
    if (await sendShare(this.pc, track).catch(() => false)) {
      call.signaling.signal(this.id, { kind: "sharing", on: !!track });
    }
  }

  close() {
    this.pc.close();
    this.tile.remove();
    this.shareTile.remove();
  }
}

function addPeer(info, offering) {
  if (!call.peers.has(info.id)) {
    call.peers.set(info.id, new Peer(info, call.iceServers, offering));
    renderRecipients($("file-to"), call.peers);
  }
  return call.peers.get(info.id);
}

/** Closes the connection to a peer that is gone, keeping its last stats. */
function dropPeer(id, left = false) {
  const peer = call.peers.get(id);
  call.peers.delete(id);
  renderRecipients($("file-to"), call.peers);
  if (left) call.commitments.delete(id);
  if (peer) {
    statsOf(peer).then((stats) => {
      call.ended[peer.id] = stats;
      peer.close();
    });
  }
}

function onEvent(event) {
  switch (event.type) {
    case "peer_joined":
      addPeer(event.peer, false); // the newcomer offers (a peer coming back keeps its connection)
      break;
    case "peer_left":
      dropPeer(event.peer_id, true);
      break;
    case "peer_away": {
      // Its server connection dropped. With its media down too, it is gone (crashed).
      const peer = call.peers.get(event.peer_id);
      if (peer && ["disconnected", "failed", "closed"].includes(peer.pc.connectionState)) {
        dropPeer(event.peer_id);
      }
      break;
    }
    case "signal": {
      const peer = call.peers.get(event.from) || addPeer({ id: event.from, name: event.from }, false);
      peer.onSignal(event.signal);
      break;
    }
    case "error":
      showError(event.message);
      break;
    case "closed":
      // One reconnect loop at a time: a socket that closes during a retry's join is that
      // loop's business.
      if (call.state === "in-call" && !call.reconnecting) {
        call.serverConnected = false;
        call.reconnecting = true;
        showError("The connection to the server was lost; the call goes on. Reconnecting…");
        reconnect(1);
      }
      break;
  }
}

/**
 * Back to the server after the connection dropped (or the server restarted): the same place
 * with the resume token (a restarted server re-creates the room around it, docs/protocol.md),
 * keeping every connection; anyone new is offered to. Retries with backoff while in the call.
 */
async function reconnect(attempt) {
  const delay = Math.min(5000, 250 * 2 ** (attempt - 1)) * (1 + Math.random() / 4);
  await new Promise((resolve) => setTimeout(resolve, delay));
  if (call.state !== "in-call") {
    call.reconnecting = false;
    return;
  }
  try {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    call.signaling = await Signaling.connect(`${scheme}://${location.host}/ws`, onEvent);
    const joined = await call.signaling.join(call.room, call.name, call.resumeToken);
    call.resumeToken = joined.resume_token;
    call.iceServers = joined.ice_servers;
    scheduleIceRenewal(call);
    if (joined.peer_id !== call.me) {
      // The place was given up: everyone starts again with the new id.
      for (const id of [...call.peers.keys()]) dropPeer(id, true);
      call.me = joined.peer_id;
    }
    for (const peer of joined.peers) {
      if (!call.peers.has(peer.id)) addPeer(peer, true);
    }
    call.serverConnected = true;
    call.reconnecting = false;
    clearError();
  } catch (e) {
    if (e.code === "room_not_found") {
      call.reconnecting = false;
      showError("The server no longer has this room; the call goes on, but nobody new can join.");
      return;
    }
    if (call.state === "in-call") reconnect(attempt + 1);
  }
}

// ---------- the call ----------

function addChat(from, text) {
  call.chat.push({ from, text });
  const line = document.createElement("li");
  line.textContent = `${from}: ${text}`;
  $("chat-log").append(line);
}

async function join(create) {
  clearError();
  const name = $("name").value.trim() || "Guest";
  const code = $("room").value.trim();
  if (!create && !code) {
    return showError("Type the room code you were given, or create a room.");
  }
  call.state = "joining";
  try {
    if (!call.stream) {
      call.stream = await openStream();
      $("self").srcObject = call.stream;
    }
    call.identity ??= await makeIdentity();
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    call.signaling = await Signaling.connect(`${scheme}://${location.host}/ws`, onEvent);
    const room = create ? await call.signaling.createRoom() : code;
    const joined = await call.signaling.join(room, name);
    call.me = joined.peer_id;
    call.room = joined.room;
    call.name = name;
    call.resumeToken = joined.resume_token;
    call.serverConnected = true;
    call.iceServers = joined.ice_servers;
    call.state = "in-call";
    scheduleIceRenewal(call);
    history.replaceState(null, "", `/r/${joined.room}`);
    $("room-code").textContent = joined.room;
    $("share").value = `${location.origin}/r/${joined.room}`;
    $("prejoin").hidden = true;
    $("incall").hidden = false;
    for (const peer of joined.peers) {
      addPeer(peer, true);
    }
  } catch (e) {
    call.state = "idle";
    call.signaling?.leave();
    showError(e.message);
  }
}

function leave() {
  call.signaling?.leave();
  for (const peer of call.peers.values()) {
    peer.close();
  }
  call.peers.clear();
  call.stream?.getTracks().forEach((t) => t.stop());
  call.stream = null;
  call.state = "left";
  $("incall").hidden = true;
  $("left").hidden = false;
}

function toggle(kind, button) {
  const tracks = call.stream?.getTracks().filter((t) => t.kind === kind) || [];
  const off = tracks.some((t) => t.enabled);
  tracks.forEach((t) => (t.enabled = !off));
  button.setAttribute("aria-pressed", String(off));
  button.textContent = kind === "audio" ? (off ? "Unmute" : "Mute") : off ? "Camera on" : "Camera off";
}

/** Shares a screen or window the browser lets the person pick, or stops sharing. */
async function toggleShare() {
  const button = $("share-screen");
  if (call.sharing) {
    const track = call.sharing;
    call.sharing = null;
    track.stop();
    for (const peer of call.peers.values()) await peer.sendOurShare();
  } else {
    let track;
    try {
      track = await pickScreen();
    } catch (e) {
      return showError(`The screen cannot be shared: ${e.message}`);
    }
    call.sharing = track;
    // The browser's own "Stop sharing" (or a closed window) ends it as the button does.
    track.addEventListener("ended", () => call.sharing === track && toggleShare());
    for (const peer of call.peers.values()) await peer.sendOurShare();
  }
  button.setAttribute("aria-pressed", String(!!call.sharing));
  button.textContent = call.sharing ? "Stop sharing" : "Share screen";
}

function sendChat(event) {
  event.preventDefault();
  const text = $("chat-text").value.trim();
  if (!text) return;
  for (const peer of call.peers.values()) {
    if (peer.channel?.readyState === "open") {
      peer.channel.send(text);
    }
  }
  addChat("you", text);
  $("chat-text").value = "";
}

/** Offers files to one peer (by id) or, with none, to everyone connected. */
function sendFiles(files, to) {
  const peers = [...call.peers.values()].filter((p) => (!to || p.id === to) && p.pc.connectionState === "connected");
  if (peers.length === 0) return showError("Nobody is connected to send the file to yet.");
  for (const file of files) peers.forEach((peer) => transfers.send(peer, file));
}

/** Turns the microphone's processing on or off (before joining); reopens the preview. */
call.setAudioProcessing = async (on) => {
  call.audioProcessing = on;
  await preview();
};

/** Per remote peer: what getStats says arrived and left, for tests and the stats view. */
call.stats = async () => {
  const out = {};
  for (const [id, peer] of call.peers) {
    out[id] = await statsOf(peer);
  }
  return out;
};

// ---------- wiring ----------

$("room").value = roomFromPath();
$("name").value = localStorage.getItem("tincan-name") || "";
$("name").addEventListener("change", () => localStorage.setItem("tincan-name", $("name").value));
$("join").addEventListener("click", () => join(false));
$("create").addEventListener("click", () => join(true));
$("camera").addEventListener("change", () => switchDevice("video"));
$("microphone").addEventListener("change", () => switchDevice("audio"));
$("speaker").addEventListener("change", () => {
  for (const peer of call.peers.values()) {
    peer.video.setSinkId?.($("speaker").value).catch(() => {});
  }
});
$("mute").addEventListener("click", (e) => toggle("audio", e.currentTarget));
$("camera-toggle").addEventListener("click", (e) => toggle("video", e.currentTarget));
$("leave").addEventListener("click", leave);
$("share-screen").addEventListener("click", toggleShare);
$("chat-form").addEventListener("submit", sendChat);
$("file-pick").addEventListener("change", (e) => {
  sendFiles([...e.target.files], $("file-to").value);
  e.target.value = "";
});
$("tiles").addEventListener("dragover", (e) => e.preventDefault());
$("tiles").addEventListener("drop", (e) => {
  e.preventDefault();
  sendFiles([...e.dataTransfer.files], e.target.closest(".tile")?.dataset.peer);
});
$("copy").addEventListener("click", () => navigator.clipboard?.writeText($("share").value));
document.addEventListener("keydown", (e) => {
  if (call.state !== "in-call" || e.target.tagName === "INPUT") return;
  if (e.key === "m") $("mute").click();
  if (e.key === "v") $("camera-toggle").click();
});
if (navigator.mediaDevices) {
  preview();
} else {
  showError("This page needs a secure address (https, or localhost) to use the camera and microphone.");
}
