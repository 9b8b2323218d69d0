import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  adaptDecision, budgetFor, captureFps, captureRungs, fallingBehind, lagSeconds, nextRung, pixelsPerSecond, rungTiers,
  startRung, widthFor,
} from '../src/lib/capture-size.js';

/** A fleet that measured every tier of `mode` at x2: input pixels per second per tier. */
const fleetOf = (mode, rates) => ({
  ladder: [144, 240, 360, 480, 720, 1080],
  fleet: Object.entries(rates).map(([tier, rate]) => ({ mode, tier, scale: 2, input_pixels_per_second: rate, workers: 1 })),
});
const RATES = { quality: 2_000_000, balanced: 9_000_000, fast: 20_000_000 };
const label = (rung) => `${rung.height}${rung.tier[0]}@${rung.fps}`;

/** The rungs and start the offscreen document picks for a 16:9 picture of `maxHeight` lines at 30 fps. */
function choose(capacity, enhancement, maxHeight = 720) {
  const rungs = captureRungs({ maxHeight, aspect: 16 / 9, fps: 30, tiers: rungTiers(capacity, enhancement) });
  const start = startRung(rungs, (tier) => budgetFor(capacity, enhancement.mode, enhancement.scale, tier));
  return { rungs, start, labels: rungs.map(label) };
}

test('widths follow the aspect, even and at least 16; the frame rate is the video\u2019s, at most 30', () => {
  assert.equal(widthFor(144, 16 / 9), 256);
  assert.equal(widthFor(240, 4 / 3), 320);
  assert.equal(widthFor(145, 1.5), 216, 'even');
  assert.equal(widthFor(144, 0.05), 16, 'the API takes no narrower capture');
  assert.equal(captureFps(null), 30);
  assert.equal(captureFps(60), 30);
  assert.equal(captureFps(24), 24);
});

test('one tier: ladder heights up to the picture, then lower frame rates at the smallest', () => {
  const rungs = captureRungs({ maxHeight: 180, aspect: 16 / 9, fps: 30, tiers: ['fast'] });
  assert.deepEqual(rungs.map((r) => `${r.width}x${r.height}@${r.fps}`), ['256x144@30', '256x144@24', '256x144@20', '256x144@15', '256x144@12']);
  assert.ok(rungs.every((r) => r.tier === 'fast'));
  const big = captureRungs({ maxHeight: 1440, aspect: 16 / 9, fps: 30, maxPixels: 1280 * 720, maxFps: 25, tiers: ['quality'] });
  assert.deepEqual(big.map((r) => r.height), [720, 480, 360, 240, 144, 144, 144, 144, 144]);
  assert.deepEqual(big.map((r) => r.fps), [25, 25, 25, 25, 25, 24, 20, 15, 12]);
  assert.deepEqual(captureRungs({ maxHeight: 90, aspect: 16 / 9, fps: 30, tiers: ['fast'] })[0],
    { width: 256, height: 144, fps: 30, tier: 'fast' }, 'tiny video: smallest rung');
});

test('auto on anime: full size at each tier best first, then smaller sizes and lower rates at the fastest', () => {
  const { rungs, labels } = choose(fleetOf('anime', RATES), { mode: 'anime', scale: 2, tier: 'auto' });
  assert.deepEqual(labels, ['720q@30', '720b@30', '720f@30', '480f@30', '360f@30', '240f@30', '144f@30',
    '144f@24', '144f@20', '144f@15', '144f@12']);
  // Each step down is cheaper for the fleet: adapting one step at a time always lightens the load.
  const seconds = rungs.map((rung) => pixelsPerSecond(rung) / RATES[rung.tier]);
  seconds.slice(1).forEach((cost, i) => assert.ok(cost < seconds[i], `${labels[i + 1]} is cheaper than ${labels[i]}`));
});

test('auto where the content may be live action never takes the quality tier', () => {
  for (const mode of ['live_action', 'auto']) {
    const { labels } = choose(fleetOf(mode, RATES), { mode, scale: 2, tier: 'auto' });
    assert.deepEqual(labels.slice(0, 4), ['720b@30', '720f@30', '480f@30', '360f@30'], mode);
    assert.ok(!labels.some((l) => l.includes('q')), mode);
  }
  assert.deepEqual(rungTiers(null, { mode: 'live_action', scale: 2, tier: 'auto' }), ['balanced', 'fast'], 'nothing measured');
});

test('auto keeps the tiers the fleet measured for this mode and scale, or all it allows when none', () => {
  const onlyFast = fleetOf('anime', { fast: RATES.fast });
  assert.deepEqual(rungTiers(onlyFast, { mode: 'anime', scale: 2, tier: 'auto' }), ['fast']);
  assert.deepEqual(rungTiers(onlyFast, { mode: 'live_action', scale: 2, tier: 'auto' }), ['balanced', 'fast'], 'another mode');
  assert.deepEqual(rungTiers(fleetOf('anime', RATES), { mode: 'live_action', scale: 2, tier: 'auto' }), ['balanced', 'fast']);
  assert.deepEqual(rungTiers({ fleet: [] }, { mode: 'anime', scale: 2, tier: 'auto' }), ['quality', 'balanced', 'fast']);
});

test('a fixed tier is every rung\u2019s; at x3 and x4 only the quality tier exists', () => {
  const { labels } = choose(fleetOf('live_action', RATES), { mode: 'live_action', scale: 2, tier: 'quality' }, 360);
  assert.deepEqual(labels, ['360q@30', '240q@30', '144q@30', '144q@24', '144q@20', '144q@15', '144q@12']);
  assert.deepEqual(rungTiers(null, { mode: 'anime', scale: 2, tier: 'balanced' }), ['balanced']);
  for (const scale of [3, 4]) {
    for (const tier of ['auto', 'fast']) {
      for (const mode of ['anime', 'live_action']) assert.deepEqual(rungTiers(null, { mode, scale, tier }), ['quality'], `${mode} x${scale} ${tier}`);
    }
  }
});

test('budgets are per mode, tier and scale: 0.7 of the fleet\u2019s figure', () => {
  const capacity = { fleet: [
    { mode: 'anime', tier: 'fast', scale: 2, input_pixels_per_second: 5_000_000, workers: 1 },
    { mode: 'anime', tier: 'quality', scale: 3, input_pixels_per_second: 0, workers: 1 },
  ] };
  assert.equal(budgetFor(capacity, 'anime', 2, 'fast'), 3_500_000);
  assert.equal(budgetFor(capacity, 'anime', 2, 'balanced'), null);
  assert.equal(budgetFor(capacity, 'live_action', 2, 'fast'), null);
  assert.equal(budgetFor(capacity, 'anime', 3, 'quality'), null, 'a zero figure is no figure');
  assert.equal(budgetFor(null, 'anime', 2, 'fast'), null);
});

test('auto mode, before its own clips are measured, budgets by the slower mode', () => {
  const fleet = [
    { mode: 'anime', tier: 'fast', scale: 2, input_pixels_per_second: 5_000_000, workers: 1 },
    { mode: 'live_action', tier: 'fast', scale: 2, input_pixels_per_second: 4_000_000, workers: 1 },
    { mode: 'anime', tier: 'balanced', scale: 2, input_pixels_per_second: 2_000_000, workers: 1 },
  ];
  assert.equal(budgetFor({ fleet }, 'auto', 2, 'fast'), 2_800_000);
  assert.equal(budgetFor({ fleet }, 'auto', 2, 'balanced'), 1_400_000, 'the one mode measured');
  const own = [...fleet, { mode: 'auto', tier: 'fast', scale: 2, input_pixels_per_second: 1_000_000, workers: 1 }];
  assert.equal(budgetFor({ fleet: own }, 'auto', 2, 'fast'), 700_000, 'its own clips once measured');
});

test('the start is the first rung its own tier\u2019s budget covers', () => {
  const anime = { mode: 'anime', scale: 2, tier: 'auto' };
  // Budgets 1.4, 6.3 and 14 Mpx/s: 720 lines costs 27.6 Mpx/s at any tier, 480 lines 12.3.
  let chosen = choose(fleetOf('anime', RATES), anime);
  assert.equal(chosen.labels[chosen.start], '480f@30');
  chosen = choose(fleetOf('anime', { ...RATES, quality: 50_000_000 }), anime);
  assert.equal(chosen.labels[chosen.start], '720q@30', 'the best tier keeps up at full size');
  chosen = choose(fleetOf('anime', { ...RATES, balanced: 50_000_000 }), anime);
  assert.equal(chosen.labels[chosen.start], '720b@30', 'then a faster tier before a smaller size');
  chosen = choose(fleetOf('live_action', RATES), { ...anime, mode: 'live_action' });
  assert.equal(chosen.labels[chosen.start], '480f@30');

  const rungs = captureRungs({ maxHeight: 720, aspect: 16 / 9, fps: 30, tiers: ['quality', 'balanced', 'fast'] });
  assert.equal(label(rungs[startRung(rungs, (tier) => (tier === 'fast' ? 28_000_000 : null))]), '720f@30', 'a tier with no figure fits nothing');
  assert.equal(startRung(rungs, () => 400_000), rungs.length - 1, 'even the floor is over: the floor');
  assert.equal(label(rungs[startRung(rungs, () => 600_000)]), '144f@15', 'frame rate gives way after size');
});

test('with no figure for the rungs\u2019 tiers the start is 240 lines at the fastest tier', () => {
  for (const capacity of [null, { fleet: [] }, fleetOf('anime', RATES)]) {
    const { labels, start } = choose(capacity, { mode: 'live_action', scale: 2, tier: 'auto' });
    assert.equal(labels[start], '240f@30');
  }
  const unknown = choose(null, { mode: 'anime', scale: 2, tier: 'auto' });
  assert.equal(unknown.labels[unknown.start], '240f@30');
  const small = choose(null, { mode: 'anime', scale: 2, tier: 'auto' }, 180);
  assert.equal(small.labels[small.start], '144f@30', 'the picture is smaller: its size at the fastest tier');
  // A fixed tier the fleet has not measured: nothing is known of it, whatever else is.
  const fixed = choose(fleetOf('anime', { fast: RATES.fast }), { mode: 'anime', scale: 2, tier: 'balanced' });
  assert.equal(fixed.labels[fixed.start], '240b@30');
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
