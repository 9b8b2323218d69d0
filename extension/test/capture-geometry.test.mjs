import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  adaptDecision, budgetFor, captureFps, captureRungs, fallingBehind, lagSeconds, nextRung, startRung, widthFor,
} from '../src/lib/capture-size.js';
import { fitInside, intersect, pickVideo, pictureRect, toFramePixels } from '../src/lib/video-geometry.js';

const box = (x, y, width, height) => ({ x, y, width, height });

test('the picture inside a video element follows object-fit', () => {
  const element = box(100, 50, 640, 480); // 4:3 box, 16:9 video
  const video = { width: 1920, height: 1080 };
  assert.deepEqual(pictureRect(element, video, 'contain'), box(100, 110, 640, 360), 'letterboxed');
  assert.deepEqual(pictureRect(element, video, 'fill'), element, 'stretched');
  assert.deepEqual(pictureRect(element, video, 'cover'), element, 'overflow clipped to the box');
  assert.deepEqual(pictureRect(element, { width: 320, height: 180 }, 'none'), box(260, 200, 320, 180));
  assert.deepEqual(pictureRect(element, { width: 320, height: 180 }, 'scale-down'), box(260, 200, 320, 180));
  assert.deepEqual(pictureRect(element, video, 'scale-down'), box(100, 110, 640, 360));
  assert.deepEqual(pictureRect(element, { width: 0, height: 0 }, 'contain'), element, 'no metadata yet');
  assert.equal(intersect(box(0, 0, 10, 10), box(10, 0, 5, 5)), null);
});

test('the largest visible playing video wins, in any frame, clipped to what is on screen', () => {
  const small = { box: box(0, 0, 320, 180), videoWidth: 320, videoHeight: 180, objectFit: 'contain', playing: true };
  const bigPaused = { box: box(0, 200, 1280, 720), videoWidth: 1280, videoHeight: 720, objectFit: 'contain', playing: false };
  const top = { top: true, viewport: { width: 1000, height: 800 }, videos: [small, bigPaused] };
  assert.equal(pickVideo([top]).box, small.box, 'playing beats larger');
  assert.deepEqual(pickVideo([top]).visible, box(0, 0, 320, 180));

  // A bigger playing video in a frame, half scrolled out of the frame's visible box.
  const framed = { box: box(500, 100, 800, 450), videoWidth: 640, videoHeight: 360, objectFit: 'contain', playing: true };
  const frame = { top: false, clips: [box(400, 0, 600, 800), box(500, 100, 400, 450)], videos: [framed] };
  const picked = pickVideo([top, frame]);
  assert.equal(picked.box, framed.box);
  assert.deepEqual(picked.visible, box(500, 100, 400, 450));

  const offscreen = { ...small, box: box(0, 900, 320, 180) };
  assert.equal(pickVideo([{ ...top, videos: [offscreen] }]), null, 'off screen: capture the viewport');
  assert.equal(pickVideo([{ ...top, videos: [{ ...bigPaused }] }]).box, bigPaused.box, 'paused is better than nothing');
  assert.equal(pickVideo([frame]), null, 'no top frame report yet');
});

test('CSS px map to the captured frame by the frame-over-viewport scale', () => {
  const viewport = { width: 1280, height: 720 };
  assert.deepEqual(toFramePixels(box(100, 50, 320, 180), viewport, { width: 2560, height: 1440 }), box(200, 100, 640, 360));
  assert.deepEqual(toFramePixels(box(100, 50, 320, 180), viewport, { width: 640, height: 360 }), box(50, 25, 160, 90));
  assert.deepEqual(toFramePixels(box(-10, 700, 320, 180), viewport, { width: 1280, height: 720 }), box(0, 700, 310, 20));
  assert.deepEqual(fitInside({ width: 400, height: 300 }, { width: 256, height: 144 }), box(32, 0, 192, 144));
});

test('rungs: ladder heights up to the picture, then lower frame rates at the smallest', () => {
  assert.equal(widthFor(144, 16 / 9), 256);
  assert.equal(widthFor(240, 4 / 3), 320);
  assert.equal(widthFor(145, 1.5), 216, 'even');
  assert.equal(widthFor(144, 0.05), 16, 'the API takes no narrower capture');
  assert.equal(captureFps(null), 30);
  assert.equal(captureFps(60), 30);
  assert.equal(captureFps(24), 24);

  const rungs = captureRungs({ maxHeight: 180, aspect: 16 / 9, fps: 30 });
  assert.deepEqual(rungs.map((r) => `${r.width}x${r.height}@${r.fps}`), ['256x144@30', '256x144@24', '256x144@20', '256x144@15', '256x144@12']);
  const big = captureRungs({ maxHeight: 1440, aspect: 16 / 9, fps: 30, maxPixels: 1280 * 720, maxFps: 25 });
  assert.deepEqual(big.map((r) => r.height), [720, 480, 360, 240, 144, 144, 144, 144, 144]);
  assert.deepEqual(big.map((r) => r.fps), [25, 25, 25, 25, 25, 24, 20, 15, 12]);
  assert.deepEqual(captureRungs({ maxHeight: 90, aspect: 16 / 9, fps: 30 })[0], { width: 256, height: 144, fps: 30 }, 'tiny video: smallest rung');
});

test('the start rung is the largest the fleet keeps up with, 240 lines when unknown', () => {
  const rungs = captureRungs({ maxHeight: 1080, aspect: 16 / 9, fps: 30 });
  const capacity = { ladder: [144, 240, 360, 480, 720, 1080], fleet: [{ mode: 'anime', scale: 2, input_pixels_per_second: 5_000_000, workers: 1 }] };
  const budget = budgetFor(capacity, 'anime', 2);
  assert.equal(budget, 3_500_000);
  assert.equal(budgetFor(capacity, 'live_action', 2), null);
  assert.equal(budgetFor({ fleet: [] }, 'anime', 2), null);
  assert.equal(budgetFor(null, 'anime', 2), null);
  assert.deepEqual(rungs[startRung(rungs, budget)], { width: 426, height: 240, fps: 30 }); // 3.07 Mpx/s; 360 lines would be 6.9
  assert.deepEqual(rungs[startRung(rungs, null)], { width: 426, height: 240, fps: 30 });
  assert.deepEqual(rungs[startRung(rungs, 400_000)], { width: 256, height: 144, fps: 12 }, 'even the floor is over: the floor');
  assert.deepEqual(rungs[startRung(rungs, 600_000)], { width: 256, height: 144, fps: 15 }, 'frame rate gives way after size');
});

test('lag counts recording not yet playable; the rung follows it, never above the start', () => {
  const clips = [{ seq: 0, state: 'packaged' }, { seq: 1, state: 'failed' }, { seq: 2, state: 'upscaling' }, { seq: 3, state: 'packaged' }];
  assert.equal(lagSeconds({ clips, startedAt: 0, nowMs: 16_000, clipSeconds: 4 }), 8);
  assert.equal(lagSeconds({ clips: [], startedAt: 1000, nowMs: 5000, clipSeconds: 4 }), 4);

  assert.equal(adaptDecision([4], 4), 'hold');
  assert.equal(adaptDecision([4, 8], 4), 'hold', 'two clips behind is the first clip warming up');
  assert.equal(adaptDecision([8, 12], 4), 'down');
  assert.equal(adaptDecision([12, 12], 4), 'hold', 'behind but not growing');
  assert.equal(adaptDecision([4, 4.5, 5], 4), 'up');
  assert.equal(adaptDecision([4, 6, 5], 4), 'hold');

  assert.equal(nextRung(2, 'down', { start: 1, count: 5 }), 3);
  assert.equal(nextRung(4, 'down', { start: 1, count: 5 }), 4, 'the floor');
  assert.equal(nextRung(1, 'up', { start: 1, count: 5 }), 1, 'never above the start');
  assert.equal(nextRung(3, 'up', { start: 1, count: 5 }), 2);
  assert.equal(nextRung(3, 'hold', { start: 1, count: 5 }), 3);
  assert.equal(fallingBehind({ index: 4, count: 5, lag: 9, clipSeconds: 4 }), true);
  assert.equal(fallingBehind({ index: 4, count: 5, lag: 8, clipSeconds: 4 }), false, 'at the floor but keeping up');
  assert.equal(fallingBehind({ index: 3, count: 5, lag: 30, clipSeconds: 4 }), false, 'can still step down');
});
