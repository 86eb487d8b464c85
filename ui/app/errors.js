// What the page says about each kind of error the app reports (`AppError::kind`,
// src-tauri/src/error.rs): a title, and advice on what to do next.

export const ADVICE = {
  "server-unreachable": "Check your internet connection and the server address in Settings, then try again.",
  "room-not-found": "Check the code with the person who shared it; codes stop working a while after everyone leaves.",
  "room-full": "This room has as many people as a call can hold. Ask someone to leave, or start a new call.",
  "not-on-network": "Ask for a link instead of the code, or set the server you both use in Settings.",
  camera: "Close other apps that use the camera, or pick another camera (or the test pattern), or join with the camera off.",
  microphone: "Plug in a microphone or pick another one, or join with the microphone off.",
  speaker: "Plug in speakers or headphones, or pick another output.",
  settings: "Open Settings and save them again.",
  call: "Try again; if it keeps failing, leave and rejoin.",
  file: "Check that the file is still there and readable, and that the Downloads folder has room.",
  screen: "Pick another screen or window; if the window was closed, open it again first.",
  recording: "Check that your Videos folder exists and has room, then record again.",
};
export const TITLES = {
  "server-unreachable": "Can't reach the server",
  "room-not-found": "No room with that code",
  "room-full": "The room is full",
  "not-on-network": "No call with that code nearby",
  camera: "Camera problem",
  microphone: "Microphone problem",
  speaker: "Speaker problem",
  settings: "Settings problem",
  file: "File problem",
  screen: "Screen sharing problem",
  recording: "Recording problem",
};
