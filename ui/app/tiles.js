// Pictures for the tiles: how each tile gets the app's frames (a WebSocket on 127.0.0.1, or
// a Tauri channel) and tells the app the size it is shown at.

import { Channel, invoke } from "./api.js";
import { I420Canvas } from "./video.js";

/**
 * Where tiles get their pictures: a WebSocket on 127.0.0.1 when the app has one (no Tauri
 * IPC per picture; docs/desktop-app.md), else a Tauri channel per tile.
 */
const frameSocket = invoke("frame_socket").catch(() => null);

/** Pictures a tile remembers in `recent`: four seconds at 30 a second. */
const RECENT = 120;

/** Starts receiving pictures for `id` into `canvas`; its counters go in `tiles[id]`. */
export function watchTile(tiles, id, canvas) {
  const renderer = new I420Canvas(canvas);
  // `canvas`: which canvas shows it (for tests and curious people).
  // `recent`: when the last pictures were drawn (ms since the epoch) and how bright they
  // were, so a test can tell when a flash was shown (lip sync, docs/desktop-app.md).
  const entry = { drawn: 0, fingerprint: 0, width: 0, height: 0, renderer, canvas: canvas.id, recent: [] };
  tiles[id] = entry;
  const show = (buffer) => {
    if (renderer.draw(buffer)) {
      Object.assign(entry, { drawn: renderer.drawn, fingerprint: renderer.fingerprint, width: renderer.width, height: renderer.height, at: performance.now() });
      entry.recent.push([performance.timeOrigin + performance.now(), Math.round(renderer.brightness)]);
      if (entry.recent.length > RECENT) entry.recent.shift();
      canvas.parentElement?.classList.add("live");
    }
  };
  const byChannel = () => {
    const [width, height] = shownSize(canvas);
    const channel = new Channel();
    channel.onmessage = (buffer) => {
      show(buffer);
      invoke("frame_shown", { tile: id }).catch(() => {});
    };
    invoke("watch_tile", { tile: id, width, height, channel });
    entry.path = "channel";
  };
  frameSocket.then((socket) => {
    if (tiles[id] !== entry) return; // watched anew meanwhile
    if (!socket) return byChannel();
    const [width, height] = shownSize(canvas);
    const url = `ws://127.0.0.1:${socket.port}/tile/${encodeURIComponent(id)}?token=${socket.token}&w=${width}&h=${height}`;
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    let opened = false;
    ws.onopen = () => { opened = true; };
    ws.onmessage = (event) => {
      show(event.data);
      // Drawn: ready for the next one (the app keeps a few in flight at most).
      ws.send("");
    };
    // A socket that never opened (refused, blocked) leaves the tile to a channel.
    ws.onclose = () => {
      if (!opened && tiles[id] === entry) byChannel();
    };
    entry.close = () => ws.close();
    entry.path = "socket";
  });
  return entry;
}

export function shownSize(canvas) {
  const r = canvas.getBoundingClientRect();
  const scale = window.devicePixelRatio || 1;
  return [Math.max(1, Math.round(r.width * scale)), Math.max(1, Math.round(r.height * scale))];
}

export const tileResize = new ResizeObserver((entries) => {
  for (const e of entries) {
    const id = e.target.dataset.tile;
    const [width, height] = shownSize(e.target);
    invoke("resize_tile", { tile: id, width, height }).catch(() => {});
  }
});
