// The page's side of its contract with the app. Events: `EVENTS` names each one the app
// sends (src-tauri/src/events.rs, `PageEvent`; a test there holds the two lists equal), and
// `on` is how every module listens. Commands: `invoke`, the app's `#[tauri::command]`s
// (src-tauri/src/commands.rs, src-tauri/src/people/commands.rs).

const tauri = window.__TAURI__;

export const { invoke, Channel } = tauri.core;

export const EVENTS = {
  previewLevel: "preview:level",
  linkJoin: "link:join",
  linkPerson: "link:person",
  peerJoined: "call:peer-joined",
  peerLeft: "call:peer-left",
  connected: "call:connected",
  disconnected: "call:disconnected",
  chat: "call:chat",
  stats: "call:stats",
  error: "call:error",
  server: "call:server",
  inputLost: "call:input-lost",
  devicesChanged: "devices:changed",
  ended: "call:ended",
  people: "people",
  file: "call:file",
  sharing: "call:sharing",
};

/// Calls `handler(payload)` for each `event` (one of `EVENTS`'s values).
export function on(event, handler) {
  if (!Object.values(EVENTS).includes(event)) throw new Error(`no such event: ${event}`);
  return tauri.event.listen(event, ({ payload }) => handler(payload));
}

/// Calls `handler(paths, x, y)` when files are dropped on the window, with where (CSS
/// pixels). Tauri catches the drop natively, so the page gets the files' paths (a page's
/// own drop event would give only their contents).
export function onFilesDropped(handler) {
  return tauri.webview.getCurrentWebview().onDragDropEvent(({ payload }) => {
    if (payload.type !== "drop" || !payload.paths?.length) return;
    const scale = window.devicePixelRatio || 1;
    handler(payload.paths, payload.position.x / scale, payload.position.y / scale);
  });
}
