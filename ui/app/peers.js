// The call's tiles for the other people: one per person (its picture, avatar, name,
// connection-quality dot, security code and statistics), one per screen shared (large, the
// people small beside it), the grid they share, and the active speaker's outline.

import { quality, statsText } from "./stats.js";
import { tileResize, watchTile } from "./tiles.js";

const $ = (id) => document.getElementById(id);

export function initials(name) {
  return (name || "?").split(/\s+/).map((w) => w[0]).join("").slice(0, 2).toUpperCase();
}

/// Wires the tiles to the page's state (`app.peers`, `app.tiles`, `app.speaker`); `notice`
/// says who joined and left. Returns what the call's events call.
export function startPeers(app, notice) {
  // A peer whose camera went off (or who has none) sends no pictures: after a moment without
  // one, their tile shows their avatar instead of a frozen picture.
  const STALE_MS = 1500;
  setInterval(() => {
    const now = performance.now();
    for (const [id, peer] of app.peers) {
      const at = app.tiles[id]?.at ?? 0;
      peer.tile.classList.toggle("live", now - at < STALE_MS);
    }
  }, 500);

  function addPeer(peer) {
    if (app.peers.has(peer.id)) return;
    const tile = document.createElement("div");
    tile.className = "tile remote";
    tile.id = `tile-${peer.id}`;
    const canvas = document.createElement("canvas");
    canvas.dataset.tile = peer.id;
    canvas.setAttribute("aria-label", `${peer.name}'s video`);
    const avatar = document.createElement("div");
    avatar.className = "avatar";
    avatar.textContent = initials(peer.name);
    const label = document.createElement("span");
    label.className = "label";
    label.textContent = peer.name;
    const quality = document.createElement("span");
    quality.className = "quality";
    quality.dataset.level = "unknown";
    quality.setAttribute("role", "img");
    quality.setAttribute("aria-label", "Connection: connecting");
    const stats = document.createElement("pre");
    stats.className = "stats";
    stats.hidden = $("stats-toggle").getAttribute("aria-pressed") !== "true";
    // The connection's security code, once it is up (docs/calls.md): read aloud and compared.
    const code = document.createElement("span");
    code.className = "security-code";
    code.title = "Read this to each other: if it matches, nobody sits between you";
    code.hidden = true;
    tile.append(canvas, avatar, label, quality, code, stats);
    $("tiles").append(tile);
    updateLayout();
    app.peers.set(peer.id, { name: peer.name, tile, stats: null, security_code: null });
    watchTile(app.tiles, peer.id, canvas);
    tileResize.observe(canvas);
    notice(`${peer.name} joined`);
  }

  // A person's screen share: its own tile (`<peer id>/screen`, as the app names it) in the
  // big column, the people's tiles in a narrow one beside it.
  function showShare(id, on) {
    const peer = app.peers.get(id);
    const tileId = `${id}/screen`;
    const existing = $(`share-${id}`);
    if (!on || !peer) {
      if (!existing) return;
      existing.remove();
      app.tiles[tileId]?.close?.();
      delete app.tiles[tileId];
      updateLayout();
      if (peer && !on) notice(`${peer.name} stopped sharing their screen`);
      return;
    }
    if (existing) return;
    const tile = document.createElement("div");
    tile.className = "tile remote share";
    tile.id = `share-${id}`;
    const canvas = document.createElement("canvas");
    canvas.dataset.tile = tileId;
    canvas.setAttribute("aria-label", `${peer.name}'s screen`);
    const label = document.createElement("span");
    label.className = "label";
    label.textContent = `${peer.name}'s screen`;
    tile.append(canvas, label);
    $("tiles").prepend(tile);
    updateLayout();
    watchTile(app.tiles, tileId, canvas);
    tileResize.observe(canvas);
    notice(`${peer.name} is sharing their screen`);
  }

  function removePeer(id) {
    showShare(id, false);
    const peer = app.peers.get(id);
    if (!peer) return;
    peer.tile.remove();
    app.peers.delete(id);
    app.tiles[id]?.close?.();
    delete app.tiles[id];
    updateLayout();
    markSpeaker();
    notice(`${peer.name} left`);
  }

  // Every remote person has a tile (issue 21: a fourth was heard and never seen): one column
  // for one, two for up to four, three for up to nine, in rows that share the height left.
  // With a screen shared, the shares take a wide column and the people a narrow one.
  function updateLayout() {
    const tiles = $("tiles");
    const count = tiles.querySelectorAll(".tile:not(.share)").length;
    const shares = [...tiles.querySelectorAll(".tile.share")];
    tiles.dataset.count = String(count);
    tiles.classList.toggle("sharing", shares.length > 0);
    if (shares.length > 0) {
      // At least three rows, so one person beside a share is a small picture, not a strip.
      const rows = Math.max(count, shares.length, 3);
      tiles.style.gridTemplateColumns = "minmax(0, 4fr) minmax(0, 1fr)";
      tiles.style.gridTemplateRows = `repeat(${rows}, minmax(0, 1fr))`;
      const each = Math.max(1, Math.floor(rows / shares.length));
      shares.forEach((share, i) => { share.style.gridRow = `${i * each + 1} / span ${each}`; });
    } else {
      tiles.style.gridTemplateColumns = `repeat(${Math.max(1, Math.ceil(Math.sqrt(count)))}, minmax(0, 1fr))`;
      tiles.style.gridTemplateRows = "";
    }
    $("waiting").hidden = count > 0;
  }

  function showStats(s) {
    const peer = app.peers.get(s.peer_id);
    if (!peer) return;
    const level = quality(s, peer.stats);
    peer.stats = s;
    const q = peer.tile.querySelector(".quality");
    q.dataset.level = level;
    q.setAttribute("aria-label", `Connection: ${level}`);
    const tile = app.tiles[s.peer_id];
    peer.tile.querySelector(".stats").textContent = statsText(s, tile?.drawn ?? 0);
    markSpeaker();
  }

  // The active speaker: the loudest person heard over the last half second (their stats'
  // `speaking_level`), when anyone is louder than a murmur (−34 dBFS); their tile is outlined,
  // and in a room of five or more (no screen shared) pinned large, first in the grid.
  const SPEAKING_LEVEL = 0.02;
  const PIN_FROM = 5;
  function markSpeaker() {
    let loudest = null;
    for (const [id, peer] of app.peers) {
      const level = peer.stats?.speaking_level ?? 0;
      if (level >= SPEAKING_LEVEL && (!loudest || level > loudest.level)) loudest = { id, level };
    }
    app.speaker = loudest?.id ?? null;
    const pin = app.peers.size >= PIN_FROM && !$("tiles").classList.contains("sharing");
    for (const [id, peer] of app.peers) {
      peer.tile.classList.toggle("speaking", id === app.speaker);
      peer.tile.classList.toggle("pinned", pin && id === app.speaker);
    }
  }

  return { addPeer, removePeer, showStats, showShare };
}
