// What the popup and player say, in words a person understands. Codes come from ApiError
// (ours, e.g. 'unreachable') or from the API's `{"error": {"code"}}`.

const ERROR_WORDS = {
  unreachable: 'The SharprAI server cannot be reached. Is it running, and is its address right in Options?',
  clip_too_large: 'A clip was too large to upload. Try a shorter clip length in Options.',
  upload_failed: 'A clip could not be uploaded after several tries.',
  unauthorized: 'The server refused this stream\u2019s key. Start a new stream.',
  stream_not_found: 'The server no longer knows this stream. Start a new one.',
  stream_failed: 'The server could not enhance this stream.',
  capture_failed: 'Chrome did not let SharprAI record this tab.',
  unsupported_page: 'Chrome does not allow recording this page.',
  protected_video: 'This video is protected (DRM): Chrome records it as a black picture, so there is nothing to enhance.',
};

/** A sentence for an error `{code, message}`; unknown codes fall back to the server's words. */
export function describeError(error) {
  if (!error) return '';
  return ERROR_WORDS[error.code] ?? `Something went wrong: ${error.message ?? error.code}`;
}

const STATE_WORDS = {
  idle: 'Not recording. Click the SharprAI icon on a tab that plays video.',
  starting: 'Starting\u2026',
  recording: 'Recording this tab. The enhanced video plays in the SharprAI tab.',
  stopping: 'Stopping: sending the last clips\u2026',
  ended: 'Finished. The enhanced video plays to the end in the SharprAI tab.',
  failed: 'Stopped because of an error.',
};

/** One line for the capture state, plus how many clips failed to upload, if any. */
export function describeCapture(capture) {
  const base = STATE_WORDS[capture?.state ?? 'idle'] ?? STATE_WORDS.idle;
  const failed = Object.values(capture?.clips ?? {}).filter((clip) => clip.upload === 'failed').length;
  return failed ? `${base} ${failed} clip${failed === 1 ? '' : 's'} could not be uploaded.` : base;
}

const TIER_WORDS = { quality: 'Quality model', balanced: 'Balanced model', fast: 'Fast model' };

/** The model a clip ran at (`tier`, from the server), or null: the plain resize stood in. */
export function describeTier(tier) {
  return tier === null ? 'Plain resize' : TIER_WORDS[tier] ?? `${tier} model`;
}

/**
 * The model, the capture size and whether the server keeps up; "" before recording starts.
 * `tier` is the one the viewer sees (the newest packaged clip's; null: the plain resize);
 * until a clip is packaged, the one the capture asks for.
 */
export function describePace(capture, tier = capture?.size?.tier) {
  const size = capture?.size;
  if (!size) return '';
  const model = tier === undefined ? '' : `${describeTier(tier)} \u00b7 `;
  const what = `${model}${size.width}\u00d7${size.height} @ ${Math.round(size.fps)} fps`;
  return capture.fallingBehind
    ? `${what}: falling behind. The server cannot keep up even at the smallest size and frame rate.`
    : `${what}: keeping up.`;
}
