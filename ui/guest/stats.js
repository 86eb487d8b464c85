// What getStats says about one peer connection, for tests and the stats view.

import { shareMid } from "/guest/share.js";

/** The candidate pair in use: the transport names it (several pairs may be nominated). */
export function selectedPair(report) {
  let selected = null;
  report.forEach((s) => {
    if (s.type === "transport" && s.selectedCandidatePairId) selected = report.get(s.selectedCandidatePairId);
  });
  if (!selected) {
    report.forEach((s) => {
      if (s.type === "candidate-pair" && s.nominated && !selected) selected = s;
    });
  }
  return selected;
}

/** What arrived from and left for `peer`, with its loudness when it is heard. */
export async function statsOf(peer) {
  // The second video m-section is the screen share (docs/protocol.md): its own fields.
  const share = shareMid(peer.pc);
  // `at` (ms) lets a reader turn two snapshots' byte counts into a rate.
  const entry = { connection: peer.pc.connectionState, at: Date.now() };
  if (peer.meter) {
    Object.assign(entry, { audioLevel: peer.meter.level(), audioPitch: peer.meter.pitch() });
  }
  const report = await peer.pc.getStats();
  // The estimate is on the pair in use; the others carry none.
  const pair = selectedPair(report);
  if (pair) {
    Object.assign(entry, { availableOutgoingBitrate: pair.availableOutgoingBitrate, rtt: pair.currentRoundTripTime });
  }
  report.forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "video" && s.mid === share) {
      Object.assign(entry, { shareFramesDecoded: s.framesDecoded, shareFrameWidth: s.frameWidth, shareFrameHeight: s.frameHeight });
    } else if (s.type === "outbound-rtp" && s.kind === "video" && s.mid === share) {
      Object.assign(entry, { shareFramesSent: s.framesSent, shareSentWidth: s.frameWidth, shareSentHeight: s.frameHeight });
    } else if (s.type === "inbound-rtp" && s.kind === "video") {
      Object.assign(entry, { framesReceived: s.framesReceived, framesDecoded: s.framesDecoded, keyFramesDecoded: s.keyFramesDecoded, pliSent: s.pliCount, nackSent: s.nackCount, videoBytesReceived: s.bytesReceived, frameWidth: s.frameWidth });
    } else if (s.type === "inbound-rtp" && s.kind === "audio") {
      Object.assign(entry, { audioPacketsReceived: s.packetsReceived, audioCodec: s.codecId, audioSamplesReceived: s.totalSamplesReceived, audioConcealed: s.concealedSamples, audioEnergy: s.totalAudioEnergy });
    } else if (s.type === "outbound-rtp" && s.kind === "video") {
      Object.assign(entry, { framesSent: s.framesSent, videoBytesSent: s.bytesSent, pliReceived: s.pliCount, nackReceived: s.nackCount, targetBitrate: s.targetBitrate, sentWidth: s.frameWidth });
    } else if (s.type === "outbound-rtp" && s.kind === "audio") {
      Object.assign(entry, { audioPacketsSent: s.packetsSent });
    }
  });
  return entry;
}
