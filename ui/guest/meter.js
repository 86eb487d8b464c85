// How loud a remote peer is and at which pitch, from Web Audio: the speaking indicator's
// source, and what tests read to know a peer is heard.

let audioContext = null;

/** How loud a peer is and at which pitch, from Web Audio: the speaking indicator's source. */
export class AudioMeter {
  constructor(track) {
    audioContext ??= new AudioContext();
    audioContext.resume().catch(() => {});
    this.analyser = audioContext.createAnalyser();
    this.analyser.fftSize = 8192;
    audioContext.createMediaStreamSource(new MediaStream([track])).connect(this.analyser);
  }

  /** RMS of the last few milliseconds, 0 to 1. */
  level() {
    const samples = new Float32Array(this.analyser.fftSize);
    this.analyser.getFloatTimeDomainData(samples);
    return Math.sqrt(samples.reduce((sum, s) => sum + s * s, 0) / samples.length);
  }

  /** The loudest frequency, in Hz. */
  pitch() {
    const bins = new Float32Array(this.analyser.frequencyBinCount);
    this.analyser.getFloatFrequencyData(bins);
    let best = 0;
    bins.forEach((db, i) => {
      if (db > bins[best]) best = i;
    });
    return (best * audioContext.sampleRate) / this.analyser.fftSize;
  }
}
