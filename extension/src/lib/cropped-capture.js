// Crops the tab capture to the picture and scales it to the capture size, by hand: Region
// Capture only crops a tab that captures itself. Frames are read as they come
// (MediaStreamTrackProcessor) -- an offscreen document is hidden and gets no
// requestAnimationFrame -- drawn into an OffscreenCanvas, and written as new frames into a
// MediaStreamTrackGenerator, the video track the recorder records.

import { fitInside } from './video-geometry.js';

const BLACK_LEVEL = 24; // the brightest channel of a "black" frame, out of 255 (codec noise)

export class CroppedCapture {
  /**
   * `crop({width, height})` gives the source rect in a frame of that size (device px), or
   * null for the whole frame; it is asked for every frame, so it follows the page's changes.
   */
  constructor(track, { size, crop }) {
    this.crop = crop;
    this.size = size;
    this.canvas = new OffscreenCanvas(size.width, size.height);
    this.paint = this.canvas.getContext('2d', { alpha: false });
    this.probe = new OffscreenCanvas(8, 8).getContext('2d', { willReadFrequently: true });
    this.generator = new MediaStreamTrackGenerator({ kind: 'video' });
    this.writer = this.generator.writable.getWriter();
    this.reader = new MediaStreamTrackProcessor({ track }).readable.getReader();
    this.nextAtUs = -Infinity;
    this.firstFrame = new Promise((resolve) => { this.resolveFirstFrame = resolve; });
    this.frameSize = null;
    this.blackCheck = null;
    this.pump = this.#pump();
  }

  /** The cropped, scaled video track. */
  get track() { return this.generator; }

  /** A new capture size (at a clip boundary, so no clip changes size midway). */
  resize(size) {
    this.size = size;
    this.canvas.width = size.width;
    this.canvas.height = size.height;
  }

  /**
   * Resolves true if the picture now and every frame drawn in the next `ms` is black (a DRM
   * video captures black). A still page sends no new frames: the last one drawn counts.
   */
  allBlackFor(ms) {
    return new Promise((resolve) => {
      this.blackCheck = { allBlack: true, frames: 0 };
      if (this.frameSize) this.#checkBlack();
      setTimeout(() => {
        const { allBlack, frames } = this.blackCheck;
        this.blackCheck = null;
        resolve(allBlack && frames > 0);
      }, ms);
    });
  }

  async stop() {
    await this.reader.cancel().catch(() => {});
    await this.pump;
    await this.writer.close().catch(() => {});
  }

  async #pump() {
    for (;;) {
      const { value: frame, done } = await this.reader.read().catch(() => ({ done: true }));
      if (done) return;
      try {
        // Every frame at the capture rate on a fixed grid; a late frame re-anchors the grid.
        const period = 1e6 / this.size.fps;
        if (frame.timestamp >= this.nextAtUs - period / 4) {
          this.nextAtUs = frame.timestamp - this.nextAtUs < period ? this.nextAtUs + period : frame.timestamp + period;
          await this.#draw(frame);
        }
      } finally {
        frame.close();
      }
    }
  }

  async #draw(frame) {
    this.frameSize = { width: frame.displayWidth, height: frame.displayHeight };
    this.resolveFirstFrame(this.frameSize);
    const source = this.crop(this.frameSize) ?? { x: 0, y: 0, ...this.frameSize };
    const target = fitInside(source, this.size);
    this.paint.fillStyle = '#000';
    this.paint.fillRect(0, 0, this.size.width, this.size.height);
    this.paint.drawImage(frame, source.x, source.y, source.width, source.height, target.x, target.y, target.width, target.height);
    if (this.blackCheck) this.#checkBlack();
    const out = new VideoFrame(this.canvas, { timestamp: frame.timestamp });
    await this.writer.write(out).finally(() => out.close());
  }

  #checkBlack() {
    this.probe.drawImage(this.canvas, 0, 0, 8, 8);
    const pixels = this.probe.getImageData(0, 0, 8, 8).data;
    let brightest = 0;
    for (let i = 0; i < pixels.length; i += 4) brightest = Math.max(brightest, pixels[i], pixels[i + 1], pixels[i + 2]);
    this.blackCheck.frames += 1;
    if (brightest > BLACK_LEVEL) this.blackCheck.allBlack = false;
  }
}
