// How big and how fast to capture, so that enhancing a clip takes less time than recording
// it (issue 14's contract, mirrored in bench/realtime.py). Sizes come from a fixed ladder of
// heights, so a GPU engine's shape range covers every one; size gives way first, down to the
// smallest height, then frame rate, down to 12 fps. Below that the delay is allowed to grow.

export const DEFAULT_LADDER = Object.freeze([144, 240, 360, 480, 720, 1080]);
export const UNKNOWN_START_HEIGHT = 240; // no capacity measured yet: start small and adapt
export const MAX_FPS = 30;
export const MIN_FPS = 12;
const LOWER_FPS = [24, 20, 15, MIN_FPS];
export const BUDGET_SHARE = 0.7; // of the fleet's measured pixels per second: headroom for the rest
const UP_AFTER_CLIPS = 3;

/** Capture frame rate: the video's own, at most 30; unknown means 30. */
export function captureFps(videoFps = null) {
  return Number(videoFps) > 0 ? Math.min(Number(videoFps), MAX_FPS) : MAX_FPS;
}

/** Width for `height` lines at the picture's aspect ratio, rounded down to even (encoders need it), at least 16 (the API's least). */
export function widthFor(height, aspect) {
  return Math.max(16, Math.floor((height * aspect) / 2) * 2);
}

/** Input pixels per second the capture may cost: 0.7 x the fleet's for this mode and scale, or null. */
export function budgetFor(capacity, mode, scale) {
  const entry = capacity?.fleet?.find((fleet) => fleet.mode === mode && fleet.scale === scale);
  return entry?.input_pixels_per_second > 0 ? BUDGET_SHARE * entry.input_pixels_per_second : null;
}

export const pixelsPerSecond = (rung) => rung.width * rung.height * rung.fps;

/**
 * Every capture size allowed, largest first: each ladder height up to `maxHeight` (the picture's
 * min(displayed device px, intrinsic) lines) at `fps`, then the smallest of them at lower frame
 * rates down to 12. Sizes over the server's `maxPixels` and rates over `maxFps` are left out.
 * A picture smaller than every rung is captured at the smallest one.
 */
export function captureRungs({ ladder = DEFAULT_LADDER, maxHeight, aspect, fps, maxPixels = Infinity, maxFps = MAX_FPS }) {
  const top = Math.min(fps, maxFps);
  const sorted = [...ladder].sort((a, b) => b - a);
  const heights = sorted.filter((height) => height <= maxHeight && widthFor(height, aspect) * height <= maxPixels);
  if (heights.length === 0) heights.push(sorted.at(-1));
  const rungs = heights.map((height) => ({ width: widthFor(height, aspect), height, fps: top }));
  const floor = rungs.at(-1);
  for (const fps of LOWER_FPS) if (fps < top) rungs.push({ ...floor, fps });
  return rungs;
}

/**
 * The rung to start at: the largest the budget covers (or the floor when none is), or with
 * no capacity known, the largest of at most 240 lines.
 */
export function startRung(rungs, budget) {
  const index = budget === null
    ? rungs.findIndex((rung) => rung.height <= UNKNOWN_START_HEIGHT)
    : rungs.findIndex((rung) => pixelsPerSecond(rung) <= budget);
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
