// The screen share's picker: the display and its windows (`screen_choices`), each with a
// thumbnail, drawn by the tiles' renderer once and copied into a plain canvas (a WebGL
// context per thumbnail would run out). Resolves with the chosen target, or null.

import { invoke } from "./api.js";
import { I420Canvas } from "./video.js";

const $ = (id) => document.getElementById(id);

let renderer = null;
let choose = null;

/** Copies a thumbnail (the tiles' wire form, base64) into `canvas`. */
function drawThumbnail(canvas, base64) {
  renderer ??= new I420Canvas(document.createElement("canvas"));
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  if (!renderer.draw(bytes.buffer)) return;
  canvas.width = renderer.width;
  canvas.height = renderer.height;
  canvas.getContext("2d").drawImage(renderer.canvas, 0, 0);
}

function close(target) {
  $("share-picker").hidden = true;
  const resolve = choose;
  choose = null;
  resolve?.(target);
}

/** Shows what can be shared (`app.shareChoices` keeps the list) and waits for a pick. */
export async function pickScreen(app) {
  const choices = await invoke("screen_choices");
  app.shareChoices = choices;
  const list = $("share-choices");
  list.replaceChildren();
  for (const choice of choices) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "share-choice";
    button.dataset.target = choice.target;
    const canvas = document.createElement("canvas");
    canvas.setAttribute("aria-hidden", "true");
    if (choice.thumbnail) drawThumbnail(canvas, choice.thumbnail);
    const name = document.createElement("span");
    // The desktop's own dialog (a Wayland session) has no size until something is picked.
    name.textContent = choice.width
      ? `${choice.name} · ${choice.width}×${choice.height}`
      : choice.name;
    button.append(canvas, name);
    button.addEventListener("click", () => close(choice.target));
    list.append(button);
  }
  close(null); // a picker still open from before gives way
  $("share-picker").hidden = false;
  list.querySelector("button")?.focus();
  return new Promise((resolve) => { choose = resolve; });
}

$("share-cancel").addEventListener("click", () => close(null));
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && !$("share-picker").hidden) close(null);
});
