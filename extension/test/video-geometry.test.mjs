import assert from 'node:assert/strict';
import { test } from 'node:test';

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
