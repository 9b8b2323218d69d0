import assert from 'node:assert/strict';
import { test } from 'node:test';

import { decideRecovery, MAX_RECOVERIES_PER_WINDOW } from '../src/lib/error-recovery.js';
import { delayBehindLive, formatDelay } from '../src/lib/live-delay.js';
import { DEFAULT_OPTIONS, apiBaseUrlProblem, enhancementBody, normalizeOptions } from '../src/lib/options.js';
import { describeCapture, describeError, describePace, describeTier } from '../src/lib/status-text.js';

test('delay behind live counts from the capture start when there is one', () => {
  const delay = delayBehindLive({ captureStartedAt: 10_000, currentTime: 5, nowMs: 27_000, liveEdgeLatency: 3 });
  assert.equal(delay, 12);
  assert.equal(delayBehindLive({ currentTime: 5, nowMs: 0, liveEdgeLatency: 3.5 }), 3.5);
  assert.equal(delayBehindLive({ currentTime: 0, nowMs: 0 }), null);
  assert.equal(formatDelay(12.4), '12 s behind live');
  assert.equal(formatDelay(65), '1 min 5 s behind live');
  assert.equal(formatDelay(null), '');
});

test('fatal hls.js errors recover by kind and give up when they repeat', () => {
  assert.equal(decideRecovery('networkError', [], 0).action, 'startLoad');
  assert.equal(decideRecovery('mediaError', [], 0).action, 'recoverMediaError');
  assert.equal(decideRecovery('muxError', [], 0).action, 'give-up');
  const busy = Array.from({ length: MAX_RECOVERIES_PER_WINDOW }, (_, i) => 1000 + i);
  assert.equal(decideRecovery('networkError', busy, 2000).action, 'give-up');
  assert.equal(decideRecovery('networkError', busy, 70_000).action, 'startLoad', 'old recoveries age out');
});

test('stored options are completed and cleaned before use', () => {
  assert.deepEqual(normalizeOptions({}), DEFAULT_OPTIONS);
  const cleaned = normalizeOptions({ apiBaseUrl: 'https://sharpr.example/api/', mode: 'cartoon', tier: 'tiny', clipSeconds: 1, colorVision: 'deuteranopia', colorVisionStrength: 7 });
  assert.equal(cleaned.apiBaseUrl, 'https://sharpr.example/api');
  assert.equal(cleaned.mode, 'anime');
  assert.equal(cleaned.tier, 'auto');
  assert.equal(normalizeOptions({ tier: 'fast' }).tier, 'fast');
  assert.equal(cleaned.clipSeconds, 2);
  assert.equal(cleaned.colorVisionStrength, 1);
  assert.equal(normalizeOptions({ apiBaseUrl: 'ftp://x' }).apiBaseUrl, DEFAULT_OPTIONS.apiBaseUrl);
  assert.deepEqual(enhancementBody(cleaned), { mode: 'anime', tier: 'auto', dim_lift: false, color_vision: 'deuteranopia', color_vision_strength: 1 });
});

test('errors and states are told in plain words', () => {
  assert.match(describeError({ code: 'unreachable', message: 'fetch failed' }), /cannot be reached/);
  assert.match(describeError({ code: 'weird', message: 'disk full' }), /disk full/);
  assert.match(describeCapture({ state: 'recording', clips: { 0: { upload: 'failed' }, 1: { upload: 'registered' } } }), /1 clip could not be uploaded/);
  assert.match(describeCapture(undefined), /Not recording/);
});

test('the model, the capture size and whether the server keeps up are told in words', () => {
  assert.equal(describePace({ size: null }), '');
  const capture = { size: { width: 426, height: 240, fps: 24, tier: 'balanced' }, fallingBehind: false };
  assert.equal(describePace(capture), 'Balanced model \u00b7 426\u00d7240 @ 24 fps: keeping up.', 'the tier asked for');
  assert.equal(describePace(capture, 'fast'), 'Fast model \u00b7 426\u00d7240 @ 24 fps: keeping up.', 'the tier a clip ran at');
  assert.match(describePace(capture, null), /^Plain resize \u00b7 426/);
  assert.equal(describePace({ size: { width: 256, height: 144, fps: 30 }, fallingBehind: false }), '256\u00d7144 @ 30 fps: keeping up.', 'no tier known');
  assert.match(describePace({ size: { width: 256, height: 144, fps: 12, tier: 'fast' }, fallingBehind: true }), /falling behind/);
  assert.equal(describeTier('quality'), 'Quality model');
  assert.match(describeError({ code: 'protected_video', message: 'the picture is black' }), /protected \(DRM\)/);
});

test('the API is reached over https, or over plain http only on this machine', () => {
  for (const local of ['http://127.0.0.1:8000', 'http://localhost:8000', 'http://[::1]:8000', 'http://127.0.0.2', 'https://sharpr.example']) {
    assert.equal(apiBaseUrlProblem(local), null, local);
    assert.equal(normalizeOptions({ apiBaseUrl: local }).apiBaseUrl, new URL(local).origin, local);
  }
  for (const remote of ['http://sharpr.example:8000', 'http://192.168.1.5:8000', 'http://127.0.0.1.example.com']) {
    assert.match(apiBaseUrlProblem(remote), /over https/, remote);
    assert.equal(normalizeOptions({ apiBaseUrl: remote }).apiBaseUrl, DEFAULT_OPTIONS.apiBaseUrl, remote); // a stored one is not used
  }
  assert.match(apiBaseUrlProblem('not a url'), /not a URL/);
});
