// The security code and the fingerprint commitment, as the app computes them
// (crates/protocol/src/security.rs; formulas and known answers in docs/protocol.md,
// "Commitments and the security code"). Needs a secure context (https or localhost) for
// crypto.subtle, as the camera does.

const encoder = new TextEncoder();

async function sha256(text) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

const hex = (bytes) => [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");

/** The `a=fingerprint:` values of an SDP: "sha-256 ab:cd:…", lower case, each once, sorted. */
export function fingerprintsOf(sdp) {
  const all = sdp
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.startsWith("a=fingerprint:"))
    .map((l) => l.slice("a=fingerprint:".length).trim().split(/\s+/).join(" ").toLowerCase());
  return [...new Set(all)].sort();
}

/** The commitment to these fingerprints: 64 hex digits. */
export async function commitmentTo(fingerprints) {
  const sorted = [...new Set(fingerprints)].sort();
  return hex(await sha256(`tincan-commit-v1\n${sorted.map((f) => `${f}\n`).join("")}`));
}

/** Twenty digits in five groups of four, the same at both ends of one connection. */
export async function securityCode(room, a, b) {
  const [first, second] = a.peer <= b.peer ? [a, b] : [b, a];
  const side = (s) => `${s.peer} ${[...new Set(s.fingerprints)].sort().join(",")}\n`;
  const digest = await sha256(`tincan-code-v1\n${room}\n${side(first)}${side(second)}`);
  const n = BigInt(`0x${hex(digest.slice(0, 16))}`) % 10n ** 20n;
  return n.toString().padStart(20, "0").match(/.{4}/g).join(" ");
}

/**
 * A certificate for every connection of this call, its fingerprints and the commitment to
 * them (sent before any offer or answer shows them).
 */
export async function makeIdentity() {
  const certificate = await RTCPeerConnection.generateCertificate({ name: "ECDSA", namedCurve: "P-256" });
  let fingerprints;
  if (certificate.getFingerprints) {
    fingerprints = certificate.getFingerprints().map((f) => `${f.algorithm} ${f.value}`.toLowerCase());
  } else {
    // Older browsers: read it from an offer of a connection that is never used.
    const probe = new RTCPeerConnection({ certificates: [certificate] });
    probe.createDataChannel("probe");
    fingerprints = fingerprintsOf((await probe.createOffer()).sdp);
    probe.close();
  }
  fingerprints = [...new Set(fingerprints)].sort();
  return { certificate, fingerprints, commitment: await commitmentTo(fingerprints) };
}
