// The page's side of its contract with the app. Events: `EVENTS` names each one the app
// sends (src-tauri/src/events.rs, `PageEvent`; a test there holds the two lists equal), and
// `on` is how every module listens. Commands: `COMMANDS` names each `#[tauri::command]` the
// app answers (src-tauri/src/lib.rs, `generate_handler!`; a test there holds the two lists
// equal and every command a page module names to this list), and `invoke` is how every module
// asks.

const tauri = window.__TAURI__;

export const { Channel } = tauri.core;

export const COMMANDS = [
  "app_info",
  "server_address",
  "builtin_server_info",
  "save_settings",
  "list_devices",
  "start_preview",
  "stop_preview",
  "test_speaker",
  "test_devices",
  "join",
  "leave",
  "set_mic_muted",
  "set_camera_off",
  "switch_device",
  "send_chat",
  "watch_tile",
  "frame_socket",
  "resize_tile",
  "frame_shown",
  "tile_counts",
  "pick_files",
  "send_files",
  "accept_file",
  "decline_file",
  "cancel_file",
  "share_screen",
  "screen_choices",
  "start_recording",
  "stop_recording",
  "people_view",
  "add_contact",
  "rename_contact",
  "remove_contact",
  "ring",
  "cancel_ring",
  "answer_ring",
  "set_do_not_disturb",
];

/// Asks the app `command` (one of `COMMANDS`) with `args`; a name not there fails at once.
export function invoke(command, args) {
  if (!COMMANDS.includes(command)) {
    return Promise.reject(new Error(`no such command: ${command}`));
  }
  return tauri.core.invoke(command, args);
}

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
  recording: "call:recording",
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
