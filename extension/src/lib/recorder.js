// Cuts any MediaStream into clips of `clipSeconds`, each a complete WebM that decodes on its
// own: a fresh MediaRecorder per clip, because timeslice chunks after the first lack the
// header. The next recorder starts in the same tick the previous one stops, so gaps are a frame.

import { keepsStoppedClip, msUntilClipEnd, normalizeClipSeconds, pickWebmType } from './clip-schedule.js';

export class ClipRecorder {
  /**
   * `onClip({seq, blob, startedAt, seconds})` gets every finished clip, the last one included
   * unless Stop cut it too short to hold a frame;
   * `onError(error)` hears a recorder failure; `beforeClip(seq)` runs just before clip `seq`
   * starts (the place to change the capture size: no clip changes size midway).
   */
  constructor(stream, { clipSeconds, onClip, onError = () => {}, beforeClip = () => {}, mimeType } = {}) {
    this.stream = stream;
    this.clipSeconds = normalizeClipSeconds(clipSeconds);
    this.onClip = onClip;
    this.onError = onError;
    this.beforeClip = beforeClip;
    this.mimeType = mimeType ?? pickWebmType((type) => MediaRecorder.isTypeSupported(type));
    this.seq = 0;
    this.current = null;
    this.timer = null;
    this.startMs = 0;
    this.pending = 0;
    this.stopping = false;
    this.finished = null;
  }

  start() {
    if (!this.mimeType) throw new Error('this browser cannot record WebM');
    this.startMs = performance.now();
    this.finished = new Promise((resolve) => { this.resolveFinished = resolve; });
    this.#startClip();
  }

  /** Ends the clip in progress early; resolves once it has been handed to onClip. */
  async stop() {
    clearTimeout(this.timer);
    this.stopping = true;
    if (this.current) {
      const last = this.current;
      this.current = null;
      last.stopped = true;
      this.#endClip(last);
    }
    return this.finished;
  }

  #startClip() {
    const seq = this.seq;
    this.beforeClip(seq);
    const chunks = [];
    const recorder = new MediaRecorder(this.stream, { mimeType: this.mimeType });
    const clip = { recorder, seq, startedAt: Date.now(), startMs: performance.now() };
    recorder.ondataavailable = (event) => { if (event.data.size > 0) chunks.push(event.data); };
    recorder.onerror = (event) => this.onError(event.error ?? new Error('MediaRecorder failed'));
    recorder.onstop = () => {
      const blob = new Blob(chunks, { type: this.mimeType });
      const seconds = (clip.stopMs - clip.startMs) / 1000;
      if (!clip.stopped || keepsStoppedClip(seq, seconds)) this.onClip({ seq, blob, startedAt: clip.startedAt, seconds });
      this.pending -= 1;
      if (this.stopping && this.pending === 0) this.resolveFinished();
    };
    recorder.start();
    this.pending += 1;
    this.current = clip;
    this.timer = setTimeout(() => this.#rollOver(), msUntilClipEnd(seq, this.startMs, this.clipSeconds, performance.now()));
  }

  #rollOver() {
    const ending = this.current;
    this.seq += 1;
    this.#startClip();
    this.#endClip(ending);
  }

  #endClip(clip) {
    clip.stopMs = performance.now();
    clip.recorder.stop();
  }
}
