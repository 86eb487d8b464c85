// The security code and the fingerprint commitment, as the app computes them
// (crates/protocol/src/security.rs; formulas and known answers in docs/protocol.md,
// "Commitments and the security code").

const encoder = new TextEncoder();

async function sha256(text) {
  const bytes = encoder.encode(text);
  if (globalThis.crypto?.subtle) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  }
  return sha256Plain(bytes);
}

const K = Uint32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

/**
 * SHA-256 (FIPS 180-4) in plain JavaScript, for pages without crypto.subtle: a guest on a
 * LAN server's plain http address (not a secure context) can still watch and listen, and its
 * commitments and codes must still be computed. Checked against crypto.subtle by
 * tests/tests/browser.rs.
 */
export function sha256Plain(bytes) {
  const bitLength = bytes.length * 8;
  const padded = new Uint8Array(Math.ceil((bytes.length + 9) / 64) * 64);
  padded.set(bytes);
  padded[bytes.length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, Math.floor(bitLength / 2 ** 32));
  view.setUint32(padded.length - 4, bitLength >>> 0);
  const h = Uint32Array.from([
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  ]);
  const w = new Uint32Array(64);
  const rotr = (x, n) => (x >>> n) | (x << (32 - n));
  for (let block = 0; block < padded.length; block += 64) {
    for (let i = 0; i < 16; i++) w[i] = view.getUint32(block + i * 4);
    for (let i = 16; i < 64; i++) {
      const s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
      const s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) >>> 0;
    }
    let [a, b, c, d, e, f, g, hh] = h;
    for (let i = 0; i < 64; i++) {
      const t1 = (hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i]) >>> 0;
      const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
      [hh, g, f, e, d, c, b, a] = [g, f, e, (d + t1) >>> 0, c, b, a, (t1 + t2) >>> 0];
    }
    const next = [a, b, c, d, e, f, g, hh];
    for (let i = 0; i < 8; i++) h[i] = (h[i] + next[i]) >>> 0;
  }
  const out = new Uint8Array(32);
  const outView = new DataView(out.buffer);
  h.forEach((word, i) => outView.setUint32(i * 4, word));
  return out;
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

/** Hex of SHA-256 of `text`, both ways (for the test that checks the plain one). */
export async function sha256Hex(text, plain) {
  return hex(plain ? sha256Plain(encoder.encode(text)) : await sha256(text));
}

/**
 * A certificate for every connection of this call, its fingerprints and the commitment to
 * them (sent before any offer or answer shows them).
 */
export async function makeIdentity() {
  const certificate = await RTCPeerConnection.generateCertificate({ name: "ECDSA", namedCurve: "P-256" });
  // The fingerprints exactly as this browser's SDP shows them (which hash functions it lists
  // is its own business): read from an offer of a connection that is never used.
  const probe = new RTCPeerConnection({ certificates: [certificate] });
  probe.createDataChannel("probe");
  const fingerprints = fingerprintsOf((await probe.createOffer()).sdp);
  probe.close();
  if (fingerprints.length === 0) {
    throw new Error("This browser did not show its connection certificate, so a security code cannot be made; try another browser.");
  }
  return { certificate, fingerprints, commitment: await commitmentTo(fingerprints) };
}
