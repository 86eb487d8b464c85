// The Tincan signaling protocol, version 1 (docs/protocol.md), for the browser: the guest page
// uses it now, the app's web UI can later. One WebSocket, JSON text frames.

const PROTOCOL_VERSION = 1;

/** A refusal from the server, with its stable code and a message for people. */
export class SignalingError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

export class Signaling {
  /**
   * Connects and says hello. `onEvent` receives every message that is not an answer to a
   * request: peer_joined, peer_left, peer_away, signal, error (unprompted), closed.
   */
  static async connect(url, onEvent) {
    const ws = new WebSocket(url);
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () =>
        reject(new SignalingError("unreachable", `Cannot reach the Tincan server at ${url}. Check the link, or try again in a moment.`));
    });
    const signaling = new Signaling(ws, onEvent);
    const welcome = await signaling.request({ type: "hello", version: PROTOCOL_VERSION, client: "tincan-guest/0.1" }, "welcome");
    // Browsers cannot answer WebSocket pings themselves; a protocol ping keeps the place.
    signaling.keepalive = setInterval(
      () => signaling.send({ type: "ping" }),
      Math.max(1000, welcome.heartbeat_ms / 2),
    );
    return signaling;
  }

  constructor(ws, onEvent) {
    this.ws = ws;
    this.onEvent = onEvent;
    this.waiting = null; // { expect, resolve, reject, request }
    ws.onmessage = (message) => this.receive(message.data);
    ws.onclose = () => {
      clearInterval(this.keepalive);
      if (this.waiting) {
        this.waiting.reject(new SignalingError("closed", "The connection to the server closed."));
        this.waiting = null;
      }
      this.onEvent({ type: "closed" });
    };
  }

  send(message) {
    if (this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(message));
    }
  }

  /** Sends `message` and resolves with the next message of type `expect` (or its error). */
  request(message, expect) {
    return new Promise((resolve, reject) => {
      this.waiting = { expect, resolve, reject, request: message.type };
      this.send(message);
    });
  }

  receive(text) {
    let message;
    try {
      message = JSON.parse(text);
    } catch {
      return; // not ours to fix; the server only sends JSON
    }
    const waiting = this.waiting;
    if (waiting && message.type === waiting.expect) {
      this.waiting = null;
      waiting.resolve(message);
      return;
    }
    if (waiting && message.type === "error" && message.request === waiting.request) {
      this.waiting = null;
      waiting.reject(new SignalingError(message.code, message.message));
      return;
    }
    if (message.type === "pong") {
      return;
    }
    this.onEvent(message);
  }

  async createRoom() {
    return (await this.request({ type: "create_room" }, "room_created")).room;
  }

  /** Joins `room`; with `resume` (an earlier `resume_token`), takes back the same place. */
  join(room, name, resume) {
    const message = { type: "join", room, name };
    if (resume) message.resume = resume;
    return this.request(message, "joined");
  }

  /** Fresh ICE servers (new TURN credentials) for the room we are in. */
  async refreshIce() {
    return (await this.request({ type: "refresh_ice" }, "ice_servers")).ice_servers;
  }

  signal(to, signal) {
    this.send({ type: "signal", to, signal });
  }

  leave() {
    this.send({ type: "leave" });
    clearInterval(this.keepalive);
    this.ws.close();
  }
}
