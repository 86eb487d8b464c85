// Reaching others with no setup: the first-start question about LAN hosting, and links
// that name a server (tincan://join/CODE?server=…), which ask before anything connects to a
// server the person has not used. The Rust side decides what a link asks
// (src-tauri/src/links.rs); this only shows the questions.

const $ = (id) => document.getElementById(id);

// Shows the LAN question on the home screen when it was never answered; `save` stores the
// answer (true: let people on the network join).
export function askLanHosting(settings, save) {
  if (settings.lan_hosting !== null && settings.lan_hosting !== undefined) return;
  $("lan-ask").hidden = false;
  const answer = async (allow) => {
    $("lan-ask").hidden = true;
    await save(allow);
  };
  $("lan-allow").onclick = () => answer(true);
  $("lan-deny").onclick = () => answer(false);
}

// Follows a link: straight to the pre-join screen when its server is known, else after the
// person agrees (`show` switches screens, `go(room, server)` opens the pre-join screen).
export function followLink(link, show, go) {
  if (!link.ask) {
    go(link.room, link.server);
    return;
  }
  $("link-ask-host").textContent = link.host || link.server;
  show("link-ask");
  $("link-continue").onclick = () => go(link.room, link.server);
  $("link-cancel").onclick = () => show("home");
}
