// Files in the call: "Send files…" (the system's file chooser) or files dropped on the window
// (on a person's tile: to them; anywhere else: to whoever "To" names), offers from others
// with Accept and Decline, a progress bar, Cancel while under way. The engine moves the bytes
// and checks them (src-tauri/src/files.rs, crates/call/src/files); this module only shows
// its `call:file` events and passes the person's answers back.
//
// `app.files` (id → transfer) is what the tests read.

import { EVENTS, invoke, on, onFilesDropped } from "./api.js";

const $ = (id) => document.getElementById(id);

// What each of the engine's events (`FileEvent`, by `kind`) makes of a transfer's state.
const ENDINGS = {
  sent: "sent",
  received: "received",
  declined: "declined",
  cancelled: "cancelled",
  failed: "failed",
};
const UNDER_WAY = new Set(["waiting", "offered", "moving"]);

/** "3.2 MB" */
function sizeText(bytes) {
  const units = ["bytes", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  for (; value >= 1000 && unit < units.length - 1; unit += 1) value /= 1000;
  return unit === 0 ? `${bytes} bytes` : `${value.toFixed(1)} ${units[unit]}`;
}

export function startFiles(app, { showError, notice }) {
  app.files = new Map();
  let renderDue = false;

  function peerName(id) {
    return app.peers.get(id)?.name || "someone who left";
  }

  function describe(file) {
    const who = file.direction === "sent" ? `to ${peerName(file.peer)}` : `from ${peerName(file.peer)}`;
    const how = {
      waiting: "waiting for an answer",
      offered: "offered to you",
      moving: `${Math.floor((100 * file.bytes) / Math.max(file.size, 1))} %`,
      sent: "sent",
      received: `saved in ${file.folder || "Downloads"}`,
      declined: "declined",
      cancelled: file.by === "us" ? "cancelled" : "cancelled by the other side",
      failed: `failed: ${file.reason}`,
    }[file.state];
    return `${file.name} (${sizeText(file.size)}) ${who} · ${how}`;
  }

  function render() {
    renderDue = false;
    const items = [...app.files.values()].reverse().map((file) => {
      const item = document.createElement("li");
      item.dataset.transfer = String(file.id);
      item.dataset.state = file.state;
      const title = document.createElement("span");
      title.className = "what";
      title.textContent = describe(file);
      if (file.path) title.title = file.path;
      const bar = document.createElement("progress");
      bar.max = Math.max(file.size, 1);
      bar.value = file.state === "sent" || file.state === "received" ? bar.max : file.bytes;
      item.append(title, bar);
      const button = (label, command, primary) => {
        const b = document.createElement("button");
        b.type = "button";
        b.className = primary ? "small" : "ghost small";
        b.textContent = label;
        b.dataset.action = label.toLowerCase();
        b.addEventListener("click", () => answer(file, command));
        item.append(b);
      };
      if (file.state === "offered") {
        button("Accept", "accept_file", true);
        button("Decline", "decline_file", false);
      } else if (UNDER_WAY.has(file.state)) {
        button("Cancel", "cancel_file", false);
      }
      return item;
    });
    $("file-list").replaceChildren(...items);
    $("files-empty").hidden = items.length > 0;
  }

  // Progress comes up to ten times a second per transfer: draw at most once a frame.
  function changed() {
    if (renderDue) return;
    renderDue = true;
    requestAnimationFrame(render);
  }

  async function answer(file, command) {
    try {
      const folder = await invoke(command, { id: file.id });
      if (command === "accept_file") {
        file.state = "moving";
        file.folder = folder;
        changed();
      }
    } catch (e) {
      showError(e);
    }
  }

  on(EVENTS.file, (event) => {
    const known = app.files.get(event.id);
    if (event.kind === "offering" || event.kind === "offered") {
      const ours = event.kind === "offering";
      app.files.set(event.id, {
        id: event.id,
        peer: event.peer,
        direction: ours ? "sent" : "received",
        name: event.name,
        size: event.size,
        bytes: 0,
        state: ours ? "waiting" : "offered",
      });
      if (!ours) {
        notice(`${peerName(event.peer)} offers you ${event.name} (${sizeText(event.size)})`);
        if ($("files").hidden) $("files-toggle").classList.add("unread");
      }
    } else if (known && event.kind === "progress") {
      known.bytes = Math.max(known.bytes, event.bytes);
      known.state = "moving";
    } else if (known && ENDINGS[event.kind]) {
      known.state = ENDINGS[event.kind];
      known.reason = event.reason;
      known.by = event.by;
      if (event.path) known.path = event.path;
      if (event.kind === "received") notice(`${known.name} is in your Downloads folder`);
    }
    changed();
  });

  async function send(paths, to) {
    if (!paths.length) return;
    try {
      await invoke("send_files", { paths, to });
    } catch (e) {
      showError(e);
    }
  }

  $("file-pick").addEventListener("click", async () => {
    try {
      const paths = await invoke("pick_files");
      await send(paths, $("file-to").value || null);
    } catch (e) {
      showError(e);
    }
  });

  // Dropped on a person's tile: to them; anywhere else in a call: to whoever "To" names.
  onFilesDropped((paths, x, y) => {
    if (app.screen !== "call") return;
    const tile = document.elementFromPoint(x, y)?.closest(".tile.remote");
    const peer = tile ? tile.id.replace(/^tile-/, "") : $("file-to").value || null;
    send(paths, peer);
  });

  $("files-toggle").addEventListener("click", (e) => {
    const open = $("files").hidden;
    $("files").hidden = !open;
    e.currentTarget.setAttribute("aria-expanded", String(open));
    e.currentTarget.classList.remove("unread");
    // One side panel at a time: the tiles keep the rest of the window.
    if (open && !$("chat").hidden) $("chat-toggle").click();
  });

  return {
    /** The "To" list follows who is in the call. */
    peersChanged() {
      const select = $("file-to");
      const chosen = select.value;
      const everyone = new Option("Everyone", "");
      const people = [...app.peers].map(([id, peer]) => new Option(peer.name, id));
      select.replaceChildren(everyone, ...people);
      select.value = people.some((o) => o.value === chosen) ? chosen : "";
      changed();
    },
    /** A new call starts with an empty list. */
    reset() {
      app.files.clear();
      $("files").hidden = true;
      $("files-toggle").classList.remove("unread");
      changed();
    },
  };
}
