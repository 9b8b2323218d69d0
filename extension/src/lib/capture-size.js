// How big, how fast and with which model tier to capture, so that enhancing a clip takes
// less time than recording it (mirrored in bench/realtime.py; the tier order is the one of
// services/core/tiers.py). Sizes come from a fixed ladder of heights, so a GPU engine's
// shape range covers every one. Each rung is cheaper than the one above it, in the order a
// client gives way in: the largest size with the best tier that keeps up, then a faster
// tier, then a smaller size (at the fastest tier), then a lower frame rate, down to 12 fps.
// Below that the delay is allowed to grow.

export const DEFAULT_LADDER = Object.freeze([144, 240, 360, 480, 720, 1080]);
export const UNKNOWN_START_HEIGHT = 240; // no capacity measured yet: start small and adapt
export const MAX_FPS = 30;
export const MIN_FPS = 12;
const LOWER_FPS = [24, 20, 15, MIN_FPS];
export const BUDGET_SHARE = 0.7; // of the fleet's measured pixels per second: headroom for the rest
const UP_AFTER_CLIPS = 3;

export const TIERS = Object.freeze(['quality', 'balanced', 'fast']); // best (slowest) first
// The distilled tiers are x2 networks; at other scales every tier is the teacher (quality).
const STUDENT_SCALE = 2;

/** Capture frame rate: the video's own, at most 30; unknown means 30. */
export function captureFps(videoFps = null) {
  return Number(videoFps) > 0 ? Math.min(Number(videoFps), MAX_FPS) : MAX_FPS;
}

/** Width for `height` lines at the picture's aspect ratio, rounded down to even (encoders need it), at least 16 (the API's least). */
export function widthFor(height, aspect) {
  return Math.max(16, Math.floor((height * aspect) / 2) * 2);
}

/** Input pixels per second a capture at `tier` may cost: 0.7 x the fleet's for this mode, tier and scale, or null. */
export function budgetFor(capacity, mode, scale, tier) {
  const rate = (of) => capacity?.fleet?.find((fleet) => fleet.mode === of && fleet.scale === scale && fleet.tier === tier)
    ?.input_pixels_per_second;
  let pixels = rate(mode);
  if (mode === 'auto' && !(pixels > 0)) {
    // auto runs either network per clip; until its own clips are measured, the slower mode's figure
    const known = [rate('anime'), rate('live_action')].filter((value) => value > 0);
    pixels = known.length ? Math.min(...known) : undefined;
  }
  return pixels > 0 ? BUDGET_SHARE * pixels : null;
}

/** The tiers that are networks of their own at `scale`, best first. */
export const tiersAt = (scale) => (scale === STUDENT_SCALE ? TIERS : TIERS.slice(0, 1));

/**
 * The tiers to capture at, best first. A fixed setting is that tier (the teacher where it
 * has no network at this scale). Auto never takes the teacher where the content may be
 * live action (realesrgan-x4plus keeps up nowhere), and keeps the tiers the fleet has
 * measured for this mode and scale, or all it allows when it has measured none of them.
 * No tier given is auto, as on the server.
 */
export function rungTiers(capacity, { mode, scale, tier = 'auto' }) {
  const networks = tiersAt(scale);
  if (tier !== 'auto') return [networks.includes(tier) ? tier : networks[0]];
  const allowed = mode === 'anime' || networks.length === 1 ? networks : networks.slice(1);
  const measured = allowed.filter((each) => budgetFor(capacity, mode, scale, each) !== null);
  return measured.length > 0 ? measured : [...allowed];
}

export const pixelsPerSecond = (rung) => rung.width * rung.height * rung.fps;

/**
 * Every capture allowed, dearest first: the largest ladder height up to `maxHeight` (the
 * picture's min(displayed device px, intrinsic) lines) at each of `tiers` (best first),
 * each smaller height at the fastest tier, then the smallest height at the fastest tier at
 * lower frame rates down to 12. Sizes over the server's `maxPixels` and rates over
 * `maxFps` are left out. A picture smaller than every rung is captured at the smallest one.
 */
export function captureRungs({ ladder = DEFAULT_LADDER, maxHeight, aspect, fps, maxPixels = Infinity, maxFps = MAX_FPS, tiers }) {
  const top = Math.min(fps, maxFps);
  const sorted = [...ladder].sort((a, b) => b - a);
  const heights = sorted.filter((height) => height <= maxHeight && widthFor(height, aspect) * height <= maxPixels);
  if (heights.length === 0) heights.push(sorted.at(-1));
  const fastest = tiers.at(-1);
  const size = (height) => ({ width: widthFor(height, aspect), height, fps: top });
  const rungs = [
    ...tiers.map((tier) => ({ ...size(heights[0]), tier })),
    ...heights.slice(1).map((height) => ({ ...size(height), tier: fastest })),
  ];
  const floor = rungs.at(-1);
  for (const fps of LOWER_FPS) if (fps < top) rungs.push({ ...floor, fps });
  return rungs;
}

/**
 * The rung to start at: the first whose pixel rate its own tier's budget covers (a tier
 * with no budget covers nothing; the floor when none is covered). With no budget for any
 * tier of the rungs, the first of at most 240 lines at the fastest tier.
 * `budgetOf(tier)` is the budget in input pixels per second, or null.
 */
export function startRung(rungs, budgetOf) {
  const known = rungs.some((rung) => budgetOf(rung.tier) !== null);
  const fastest = rungs.at(-1).tier;
  const index = known
    ? rungs.findIndex((rung) => budgetOf(rung.tier) !== null && pixelsPerSecond(rung) <= budgetOf(rung.tier))
    : rungs.findIndex((rung) => rung.height <= UNKNOWN_START_HEIGHT && rung.tier === fastest);
  return index < 0 ? rungs.length - 1 : index;
}

/**
 * Seconds of recording not yet playable: time since recording began minus the clips packaged
 * (or failed, which the player shows unenhanced) without a gap from clip 0.
 */
export function lagSeconds({ clips, startedAt, nowMs, clipSeconds }) {
  const done = new Set(clips.filter((clip) => clip.state === 'packaged' || clip.state === 'failed').map((clip) => clip.seq));
  let playable = 0;
  while (done.has(playable)) playable += 1;
  return Math.max(0, (nowMs - startedAt) / 1000 - playable * clipSeconds);
}

/**
 * 'down' | 'up' | 'hold' from the lags measured at each clip's end since the last change:
 * growing past two clips behind -> down; within a quarter clip of the best possible (one
 * clip: the one just recorded) for 3 clips in a row -> up.
 */
export function adaptDecision(lags, clipSeconds) {
  const [previous, last] = lags.slice(-2);
  if (lags.length >= 2 && last > 2 * clipSeconds && last > previous + 0.25 * clipSeconds) return 'down';
  if (lags.length >= UP_AFTER_CLIPS && lags.slice(-UP_AFTER_CLIPS).every((lag) => lag <= 1.25 * clipSeconds)) return 'up';
  return 'hold';
}

/** The rung after `decision`, never above `start` (the stream's output size was fixed from it) nor below the floor. */
export function nextRung(index, decision, { start, count }) {
  if (decision === 'down') return Math.min(count - 1, index + 1);
  if (decision === 'up') return Math.max(start, index - 1);
  return index;
}

/** Falling behind: at the smallest size and lowest rate, and still more than two clips behind. */
export function fallingBehind({ index, count, lag, clipSeconds }) {
  return index === count - 1 && lag > 2 * clipSeconds;
}
