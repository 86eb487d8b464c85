// Files handed over in the call, the way the app does it (docs/protocol.md, "File transfer"):
// one reliable data channel labelled "file" per transfer, opened by the sender; the receiver
// accepts or declines before any byte is sent; the bytes go in 16 KiB binary messages with at
// most 1 MiB waiting in the channel (the sender reads the file a piece at a time, never whole);
// the receiver checks the SHA-256 the sender gives at the end, and only a file that matches is
// offered to save. The side with a transfer's last word (received, decline, cancel, failed)
// says it and waits for the other to close the channel.
//
// A received file is a Blob the browser keeps (on disk when it is large) until the page
// closes; "Save" hands it to the browser's downloads.

import { Sha256 } from "/shared/sha256.js";

export const FILE_LABEL = "file";
const CHUNK_BYTES = 16 * 1024;
const MAX_TEXT_BYTES = 4096;
const SEND_BUFFER_BYTES = 1024 * 1024;
const READ_BYTES = 1024 * 1024;
const OFFER_WITHIN_MS = 10_000;
const ANSWER_WITHIN_MS = 300_000;
const CONFIRM_WITHIN_MS = 60_000;
const HEARD_WITHIN_MS = 5_000;
const MAX_TRANSFERS_PER_PEER = 16;
const MAX_NAME_CHARS = 200;
const MAX_REASON_CHARS = 200;
const RENDER_EVERY_MS = 100;
// Received bytes are gathered into a Blob every this many, so the page holds few pieces.
const FOLD_BYTES = 8 * 1024 * 1024;

/** Without control characters or invisible formatting: what a peer says is shown as it is. */
function printable(text) {
  // eslint-disable-next-line no-control-regex
  return String(text).replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g, "");
}

/** A file's name as a peer gave it, made safe to show and to save (the last path part). */
function safeName(offered) {
  const last = printable(offered).split(/[/\\]/).pop().replace(/^[. ]+|[. ]+$/g, "");
  return [...(last || "file")].slice(0, MAX_NAME_CHARS).join("");
}

/** "3.2 MB" */
export function sizeText(bytes) {
  const units = ["bytes", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return unit === 0 ? `${bytes} bytes` : `${value.toFixed(1)} ${units[unit]}`;
}

/** A text message from a peer, or a reason it was refused. */
function parse(data) {
  if (typeof data !== "string") return { error: "the peer sent bytes where a message belongs" };
  if (new TextEncoder().encode(data).length > MAX_TEXT_BYTES) return { error: "the peer sent a message that is too long" };
  let message;
  try {
    message = JSON.parse(data);
  } catch {
    return { error: "the peer sent something that is not a file-transfer message" };
  }
  if (message?.type === "done" && !/^[0-9a-f]{64}$/.test(message.sha256)) return { error: "the peer's hash is not 64 lower-case hex digits" };
  if (message?.type === "failed") message.reason = printable(message.reason ?? "").slice(0, MAX_REASON_CHARS);
  return message && typeof message.type === "string" ? message : { error: "the peer sent a message without a type" };
}

/** Resolves when the channel's send buffer runs low, or it closes. */
function drained(channel) {
  return new Promise((resolve) => {
    const done = () => {
      channel.removeEventListener("bufferedamountlow", done);
      channel.removeEventListener("close", done);
      resolve();
    };
    channel.addEventListener("bufferedamountlow", done);
    channel.addEventListener("close", done);
  });
}

/**
 * Every transfer of this page, sent or received. `list` holds plain records a test or the
 * view reads: { id, peer, peerName, direction: "sent" | "received", name, size, bytes,
 * state, reason, sha256, url }. `state` is offering, offered, sending, receiving, sent,
 * received, declined, cancelled by us, cancelled by peer or failed (as tincan-cli's summary).
 */
export class Transfers {
  constructor(onChange) {
    this.list = [];
    this.onChange = onChange;
    this.live = new Map(); // id → { record, channel, ... } while under way
    this.saved = new Map(); // id → the Blob of a file received whole
    this.nextId = 1;
    this.renderDue = false;
  }

  changed(now = false) {
    if (now) {
      this.renderDue = false;
      this.onChange();
    } else if (!this.renderDue) {
      this.renderDue = true;
      setTimeout(() => this.changed(true), RENDER_EVERY_MS);
    }
  }

  add(peer, direction, name, size, state) {
    const record = { id: this.nextId++, peer: peer.id, peerName: peer.name, direction, name, size, bytes: 0, state, reason: null, sha256: null, url: null };
    this.list.push(record);
    this.changed(true);
    return record;
  }

  /** Ends a transfer: its record says how, and its buffers go. */
  end(transfer, state, reason = null) {
    if (transfer.ended) return;
    transfer.ended = true;
    clearTimeout(transfer.timer);
    transfer.record.state = state;
    transfer.record.reason = reason;
    transfer.parts = null;
    this.live.delete(transfer.record.id);
    this.changed(true);
  }

  /** Says the last word and waits (a while) for the other side to close the channel. */
  lastWord(transfer, message) {
    const { channel } = transfer;
    try {
      channel.send(JSON.stringify(message));
    } catch {
      channel.close();
      return;
    }
    const timer = setTimeout(() => channel.close(), HEARD_WITHIN_MS);
    channel.addEventListener("close", () => clearTimeout(timer));
  }

  /** Ends the transfer for a reason of ours, telling the peer. */
  fail(transfer, reason) {
    this.end(transfer, "failed", reason);
    this.lastWord(transfer, { type: "failed", reason });
  }

  // ---------- sending ----------

  /** Offers `file` to `peer` (a guest.js Peer) on a channel of its own. */
  send(peer, file) {
    const record = this.add(peer, "sent", file.name, file.size, "offering");
    const channel = peer.pc.createDataChannel(FILE_LABEL, { ordered: true });
    channel.binaryType = "arraybuffer";
    channel.bufferedAmountLowThreshold = SEND_BUFFER_BYTES / 2;
    const transfer = { record, channel, file, ended: false };
    this.live.set(record.id, transfer);
    transfer.timer = setTimeout(() => {
      this.end(transfer, "failed", `${peer.name} did not answer within ${ANSWER_WITHIN_MS / 60000} minutes`);
      this.lastWord(transfer, { type: "cancel" });
    }, ANSWER_WITHIN_MS);
    channel.onopen = () => channel.send(JSON.stringify({ type: "offer", name: file.name, size: file.size }));
    channel.onmessage = ({ data }) => {
      if (transfer.ended) return;
      const message = parse(data);
      switch (message.type) {
        case "accept":
          if (record.state !== "offering") return this.fail(transfer, "the peer accepted twice");
          clearTimeout(transfer.timer);
          record.state = "sending";
          this.changed(true);
          this.pump(transfer).catch((e) => this.fail(transfer, `could not read the file: ${e.message}`));
          break;
        case "received":
          this.end(transfer, record.bytes === record.size && record.sha256 ? "sent" : "failed", record.sha256 ? null : "the peer said it received the file before it was sent");
          channel.close();
          break;
        case "decline":
          this.end(transfer, "declined");
          channel.close();
          break;
        case "cancel":
          this.end(transfer, "cancelled by peer");
          channel.close();
          break;
        case "failed":
          this.end(transfer, "failed", `${peer.name} could not take the file: ${message.reason}`);
          channel.close();
          break;
        default:
          this.fail(transfer, message.error ?? `the peer sent '${message.type}' to a sender`);
      }
    };
    channel.onclose = () => this.end(transfer, "failed", `the connection to ${peer.name} closed before the end`);
    return record;
  }

  /** Reads the file a piece at a time and sends it, waiting whenever 1 MiB is queued. */
  async pump(transfer) {
    const { channel, file, record } = transfer;
    const hash = new Sha256();
    let offset = 0;
    while (offset < file.size) {
      const piece = new Uint8Array(await file.slice(offset, offset + READ_BYTES).arrayBuffer());
      if (piece.length === 0) throw new Error("the file got shorter while it was being sent");
      hash.update(piece);
      for (let at = 0; at < piece.length; at += CHUNK_BYTES) {
        while (channel.bufferedAmount > SEND_BUFFER_BYTES - CHUNK_BYTES && !transfer.ended) {
          await drained(channel);
        }
        if (transfer.ended) return;
        const chunk = piece.subarray(at, at + CHUNK_BYTES);
        channel.send(chunk);
        record.bytes = offset + at + chunk.length;
        this.changed();
      }
      offset += piece.length;
    }
    if (transfer.ended) return;
    record.sha256 = hash.hex();
    channel.send(JSON.stringify({ type: "done", sha256: record.sha256 }));
    transfer.timer = setTimeout(() => {
      this.end(transfer, "failed", `${record.peerName} did not confirm the file within ${CONFIRM_WITHIN_MS / 1000} s`);
      channel.close();
    }, CONFIRM_WITHIN_MS);
  }

  // ---------- receiving ----------

  /** A channel a peer opened for a file: waits for its offer. */
  receive(peer, channel) {
    channel.binaryType = "arraybuffer";
    const transfer = { record: null, channel, ended: false, hash: new Sha256(), parts: [], pending: [], pendingBytes: 0 };
    transfer.timer = setTimeout(() => channel.close(), OFFER_WITHIN_MS);
    channel.onmessage = ({ data }) => {
      if (transfer.ended) return;
      if (!transfer.record) return this.onOffer(peer, transfer, parse(data));
      if (typeof data !== "string") return this.onBytes(transfer, data);
      const message = parse(data);
      if (message.type === "done") return this.onDone(transfer, message.sha256);
      if (message.type === "cancel") {
        this.end(transfer, "cancelled by peer");
        return channel.close();
      }
      this.fail(transfer, message.error ?? `the peer sent '${message.type}' to a receiver`);
    };
    channel.onclose = () => {
      clearTimeout(transfer.timer);
      if (transfer.record) this.end(transfer, "failed", `the connection to ${peer.name} closed before the end`);
    };
  }

  onOffer(peer, transfer, message) {
    const { channel } = transfer;
    clearTimeout(transfer.timer);
    if (message.type !== "offer" || typeof message.name !== "string" || !Number.isSafeInteger(message.size) || message.size < 0) {
      channel.close();
      return;
    }
    transfer.record = this.add(peer, "received", safeName(message.name), message.size, "offered");
    const busy = [...this.live.values()].filter((t) => t.record.peer === peer.id).length;
    if (busy >= MAX_TRANSFERS_PER_PEER) {
      this.end(transfer, "declined", `${peer.name} already has ${busy} transfers under way`);
      this.lastWord(transfer, { type: "decline" });
      return;
    }
    this.live.set(transfer.record.id, transfer);
  }

  onBytes(transfer, data) {
    const { record } = transfer;
    if (record.state !== "receiving") return this.fail(transfer, "the peer sent bytes before the file was accepted");
    const bytes = new Uint8Array(data);
    if (record.bytes + bytes.length > record.size) return this.fail(transfer, `the peer sent more than the ${record.size} bytes it offered`);
    transfer.hash.update(bytes);
    transfer.pending.push(bytes);
    transfer.pendingBytes += bytes.length;
    if (transfer.pendingBytes >= FOLD_BYTES) this.fold(transfer);
    record.bytes += bytes.length;
    this.changed();
  }

  fold(transfer) {
    transfer.parts.push(new Blob(transfer.pending));
    transfer.pending = [];
    transfer.pendingBytes = 0;
  }

  onDone(transfer, sha256) {
    const { record } = transfer;
    if (record.state !== "receiving") return this.fail(transfer, "the peer said 'done' before the file was accepted");
    if (record.bytes !== record.size) return this.fail(transfer, `${record.bytes} of ${record.size} bytes arrived`);
    if (transfer.hash.hex() !== sha256) return this.fail(transfer, "the file arrived damaged (its SHA-256 is not the sender's)");
    this.fold(transfer);
    record.sha256 = sha256;
    const blob = new Blob(transfer.parts);
    this.saved.set(record.id, blob);
    record.url = URL.createObjectURL(blob);
    this.end(transfer, "received");
    this.lastWord(transfer, { type: "received" });
  }

  // ---------- a person's answers ----------

  accept(id) {
    const transfer = this.live.get(id);
    if (transfer?.record.state !== "offered") return;
    transfer.record.state = "receiving";
    transfer.channel.send(JSON.stringify({ type: "accept" }));
    this.changed(true);
  }

  decline(id) {
    const transfer = this.live.get(id);
    if (transfer?.record.state !== "offered") return;
    this.end(transfer, "declined");
    this.lastWord(transfer, { type: "decline" });
  }

  cancel(id) {
    const transfer = this.live.get(id);
    if (!transfer) return;
    this.end(transfer, "cancelled by us");
    this.lastWord(transfer, { type: "cancel" });
  }
}

// ---------- the view ----------

/** The recipient choice: everyone, or one of the people connected. */
export function renderRecipients(select, peers) {
  const chosen = select.value;
  const everyone = new Option("Everyone", "");
  select.replaceChildren(everyone, ...[...peers.values()].map((peer) => new Option(peer.name, peer.id)));
  select.value = [...select.options].some((o) => o.value === chosen) ? chosen : "";
}

const ACTIVE = new Set(["offering", "offered", "sending", "receiving"]);

/** Draws the transfers into `list` (a <ul>), with the buttons each one needs. */
export function renderTransfers(list, transfers) {
  list.replaceChildren(...transfers.list.map((record) => {
    const item = document.createElement("li");
    item.dataset.transfer = record.id;
    item.dataset.state = record.state;
    const title = document.createElement("span");
    const arrow = record.direction === "sent" ? `to ${record.peerName}` : `from ${record.peerName}`;
    title.textContent = `${record.name} (${sizeText(record.size)}) ${arrow} · ${record.state}${record.reason ? `: ${record.reason}` : ""}`;
    const bar = document.createElement("progress");
    bar.max = Math.max(record.size, 1);
    bar.value = record.state === "sent" || record.state === "received" ? bar.max : record.bytes;
    item.append(title, bar);
    const button = (label, action, className = "secondary") => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = className;
      b.textContent = label;
      b.dataset.action = label.toLowerCase();
      b.addEventListener("click", () => action(record.id));
      item.append(b);
    };
    if (record.state === "offered") {
      button("Accept", (id) => transfers.accept(id), "");
      button("Decline", (id) => transfers.decline(id));
    } else if (ACTIVE.has(record.state)) {
      button("Cancel", (id) => transfers.cancel(id));
    }
    if (record.url) {
      const save = document.createElement("a");
      save.href = record.url;
      save.download = record.name;
      save.textContent = "Save";
      item.append(save);
    }
    return item;
  }));
}
