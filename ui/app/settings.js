// The Settings screen: the server, quality, privacy, audio processing, ringing and default
// devices, saved through `save_settings` (src-tauri/src/settings.rs). It opens over the home
// screen or a call and goes back to where it was opened.

import { invoke } from "./api.js";
const $ = (id) => document.getElementById(id);

/// Wires the Settings screen. `page` gives the page's state (`app`) and what the screen uses
/// of it: `show`, `loadDevices`, `clearError`, `showError`.
export function startSettings(page) {
  const { app, show, loadDevices, clearError, showError } = page;
  async function openSettings() {
    clearError();
    const s = app.settings;
    const builtin = !s.server;
    document.querySelector(`input[name=server-kind][value=${builtin ? "builtin" : "url"}]`).checked = true;
    $("server-url").value = s.server;
    $("lan-hosting").checked = s.lan_hosting === true;
    $("quality").value = s.quality;
    $("hide-ip").checked = !!s.hide_ip;
    const audio = s.audio_processing || {};
    $("echo-cancellation").checked = audio.echo_cancellation !== false;
    $("noise-suppression").checked = audio.noise_suppression !== false;
    $("auto-gain").checked = audio.auto_gain !== false;
    $("contacts-only").checked = !!s.contacts_only;
    $("start-at-login").checked = !!s.start_at_login;
    // Settings open over a call too; closing them goes back to where they were opened.
    if (app.screen !== "settings") app.settingsFrom = app.screen;
    show("settings");
    await loadDevices();
    try {
      $("builtin-address").textContent = builtin ? await invoke("builtin_server_info") : "";
    } catch (e) {
      $("builtin-address").textContent = e.message || String(e);
    }
  }

  function closeSettings() {
    show(app.settingsFrom === "call" ? "call" : "home");
  }

  async function saveSettings(event) {
    event.preventDefault();
    const url = document.querySelector("input[name=server-kind]:checked").value === "url";
    const settings = {
      ...app.settings,
      server: url ? $("server-url").value.trim() : "",
      quality: $("quality").value,
      hide_ip: $("hide-ip").checked,
      lan_hosting: $("lan-hosting").checked,
      audio_processing: {
        echo_cancellation: $("echo-cancellation").checked,
        noise_suppression: $("noise-suppression").checked,
        auto_gain: $("auto-gain").checked,
      },
      contacts_only: $("contacts-only").checked,
      start_at_login: $("start-at-login").checked,
      camera: $("default-camera").value,
      microphone: $("default-microphone").value,
      speaker: $("default-speaker").value,
    };
    try {
      app.settings = await invoke("save_settings", { settings });
      closeSettings();
    } catch (e) {
      showError(e);
    }
  }

  $("open-settings").addEventListener("click", openSettings);
  $("settings-cancel").addEventListener("click", closeSettings);
  $("settings-form").addEventListener("submit", saveSettings);
}
