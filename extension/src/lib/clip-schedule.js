// When each clip starts and stops. Clip boundaries are fixed multiples of the clip length
// from the moment recording began, so timer lateness never accumulates into drift.

export const CLIP_SECONDS = Object.freeze({ min: 2, max: 10, default: 10 });

/** A clip length the API accepts: a whole number of seconds in [2, 10]; junk means default. */
export function normalizeClipSeconds(value) {
  const seconds = Math.round(Number(value));
  if (!Number.isFinite(seconds)) return CLIP_SECONDS.default;
  return Math.min(CLIP_SECONDS.max, Math.max(CLIP_SECONDS.min, seconds));
}

/** Milliseconds from `nowMs` until clip `seq` should end, given recording began at `startMs`. */
export function msUntilClipEnd(seq, startMs, clipSeconds, nowMs) {
  const endMs = startMs + (seq + 1) * clipSeconds * 1000;
  return Math.max(0, endMs - nowMs);
}

/** Shorter than this, a clip that Stop cut short after a rollover is dropped: under load it may
 * hold no frame at all, and the server refuses a clip without one. */
export const SHORTEST_LAST_CLIP_SECONDS = 0.5;

/** Whether clip `seq`, ended by Stop after `seconds`, is worth uploading (the first always is). */
export function keepsStoppedClip(seq, seconds) {
  return seq === 0 || seconds >= SHORTEST_LAST_CLIP_SECONDS;
}

// VP8 first: every decoder the worker may use has it, and it is cheap to encode on any CPU.
const WEBM_TYPES = [
  'video/webm;codecs=vp8,opus',
  'video/webm;codecs=vp9,opus',
  'video/webm;codecs=vp8',
  'video/webm',
];

/** The first WebM type this browser's MediaRecorder can write, or null if none. */
export function pickWebmType(isTypeSupported) {
  return WEBM_TYPES.find((type) => isTypeSupported(type)) ?? null;
}
