// Screen sharing on the guest page, as the app does it (docs/protocol.md, "Screen sharing"):
// every connection's second video m-section carries the share, both ways, negotiated from
// the start so sharing renegotiates nothing; `sharing` signals say when a share is on.

/** The mids of the video m-sections of `sdp`, in their order. */
export function videoMids(sdp) {
  const mids = [];
  let video = false;
  for (const line of (sdp || "").split(/\r?\n/)) {
    if (line.startsWith("m=")) video = line.startsWith("m=video ");
    else if (video && line.startsWith("a=mid:")) mids.push(line.slice("a=mid:".length).trim());
  }
  return mids;
}

/** The mid of the share's m-section on `pc`, once a description has it. */
export function shareMid(pc) {
  return videoMids(pc.remoteDescription?.sdp || pc.localDescription?.sdp)[1] ?? null;
}

/** The transceiver that carries the share on `pc`, once negotiated. */
export function shareTransceiver(pc) {
  const mid = shareMid(pc);
  return mid === null ? null : pc.getTransceivers().find((t) => t.mid === mid) || null;
}

/**
 * Before our first offer, after the camera's and microphone's tracks: the camera's video
 * m-section comes first (receive-only without a camera), then the share's.
 */
export function addShareSection(pc, hasCamera) {
  if (!hasCamera) pc.addTransceiver("video", { direction: "recvonly" });
  return pc.addTransceiver("video", { direction: "sendrecv" });
}

/** After a far end's offer: our side of its share m-section may send (nothing until we share). */
export function openShareSection(pc) {
  const transceiver = shareTransceiver(pc);
  if (transceiver && !["sendrecv", "stopped"].includes(transceiver.direction)) {
    transceiver.direction = "sendrecv";
  }
  return transceiver;
}

/** Our screen, on one peer's share m-section (or nothing, with `track` null). */
export async function sendShare(pc, track) {
  const transceiver = shareTransceiver(pc);
  if (!transceiver) return false;
  await transceiver.sender.replaceTrack(track);
  if (track) {
    // Text over motion: keep the size, at most 15 fps and 1.2 Mbit/s (as the app sends).
    const parameters = transceiver.sender.getParameters();
    parameters.degradationPreference = "maintain-resolution";
    for (const encoding of parameters.encodings || []) {
      Object.assign(encoding, { maxBitrate: 1_200_000, maxFramerate: 15 });
    }
    await transceiver.sender.setParameters(parameters).catch(() => {});
  }
  return true;
}

/** Asks the browser for a screen or window (its own picker) and returns its video track. */
export async function pickScreen() {
  const stream = await navigator.mediaDevices.getDisplayMedia({
    video: { frameRate: { max: 15 }, width: { max: 1920 }, height: { max: 1080 } },
    audio: false,
  });
  const [track] = stream.getVideoTracks();
  track.contentHint = "text";
  return track;
}

/** A peer's share: a large tile of its own, shown while the peer says it shares. */
export class ShareTile {
  constructor(peer, tiles) {
    this.figure = document.createElement("figure");
    this.figure.className = "tile share";
    this.figure.id = `share-${peer.id}`;
    this.figure.hidden = true;
    this.video = document.createElement("video");
    this.video.autoplay = true;
    this.video.playsInline = true;
    this.video.muted = true;
    const caption = document.createElement("figcaption");
    caption.textContent = `${peer.name}'s screen`;
    this.figure.append(this.video, caption);
    this.tiles = tiles;
    tiles.prepend(this.figure);
  }

  show(track) {
    this.video.srcObject = new MediaStream([track]);
  }

  set on(on) {
    this.figure.hidden = !on;
    this.tiles.classList.toggle("sharing", !!this.tiles.querySelector(".tile.share:not([hidden])"));
  }

  get on() {
    return !this.figure.hidden;
  }

  remove() {
    this.figure.remove();
    this.on = false;
  }
}
