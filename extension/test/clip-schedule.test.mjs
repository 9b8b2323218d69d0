import assert from 'node:assert/strict';
import { test } from 'node:test';

import { keepsStoppedClip, msUntilClipEnd, normalizeClipSeconds, pickWebmType } from '../src/lib/clip-schedule.js';

test('clip length is kept within 2 to 10 whole seconds', () => {
  assert.equal(normalizeClipSeconds(1), 2);
  assert.equal(normalizeClipSeconds(4.4), 4);
  assert.equal(normalizeClipSeconds('6'), 6);
  assert.equal(normalizeClipSeconds(30), 10);
  assert.equal(normalizeClipSeconds('abc'), 10);
  assert.equal(normalizeClipSeconds(undefined), 10);
});

test('clip boundaries are fixed from the start so a late timer does not drift', () => {
  // Clip 0 ends at 10 s; clip 2 ends at 30 s even if its timer is set 250 ms late.
  assert.equal(msUntilClipEnd(0, 1000, 10, 1000), 10_000);
  assert.equal(msUntilClipEnd(2, 1000, 10, 21_250), 9_750);
});

test('an overdue clip ends at once', () => {
  assert.equal(msUntilClipEnd(0, 0, 2, 5000), 0);
});

test('the recorder prefers VP8 with Opus and falls back to any WebM', () => {
  assert.equal(pickWebmType(() => true), 'video/webm;codecs=vp8,opus');
  assert.equal(pickWebmType((type) => type === 'video/webm'), 'video/webm');
  assert.equal(pickWebmType(() => false), null);
});

test('a clip Stop cuts off just after a rollover is dropped, unless it is the first', () => {
  assert.equal(keepsStoppedClip(4, 0.05), false);
  assert.equal(keepsStoppedClip(4, 0.5), true);
  assert.equal(keepsStoppedClip(0, 0.05), true);
});
