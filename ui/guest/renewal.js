// TURN credentials that outlast the call: fresh ones before they expire, and the paths through
// our relay allocations restarted onto them. As the engine does (crates/call/src/ice_renewal.rs; why and
// when: docs/protocol.md, "Messages, server to client").

/**
 * When the TURN credentials among `servers` expire, in Unix seconds: the earliest expiry in
 * a TURN server's username (`<expiry>:<label>`), or null.
 */
function turnExpiry(servers) {
  const times = (servers || [])
    .filter((s) => (s.urls || []).some((u) => /^turns?:/.test(u)))
    .map((s) => Number.parseInt((s.username || "").split(":")[0], 10))
    .filter(Number.isFinite);
  return times.length ? Math.min(...times) : null;
}

/**
 * Asks for fresh credentials for `call` a quarter of their life (at most 5 minutes) before
 * they expire.
 */
export function scheduleIceRenewal(call) {
  clearTimeout(call.iceRenewal);
  const expires = turnExpiry(call.iceServers);
  if (expires === null) return;
  const left = Math.max(0, expires - Date.now() / 1000);
  const wait = Math.max(2, left - Math.min(300, left / 4));
  call.iceRenewal = setTimeout(() => renewIce(call), wait * 1000);
}

/**
 * Fresh credentials for every connection; the paths through a relay allocation of ours
 * restart onto them (the far end moves its own allocations, on its own renewal).
 */
async function renewIce(call) {
  if (call.state !== "in-call") return;
  try {
    call.iceServers = await call.signaling.refreshIce();
  } catch {
    call.iceRenewal = setTimeout(() => renewIce(call), 10000);
    return;
  }
  for (const peer of call.peers.values()) {
    peer.pc.setConfiguration({ iceServers: call.iceServers, certificates: [call.identity.certificate] });
    if (await peer.throughOurRelay()) {
      peer.pc.restartIce();
      peer.offer();
    }
  }
  call.iceRenewals += 1;
  scheduleIceRenewal(call);
}
