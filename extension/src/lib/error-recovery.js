// The hls.js fatal-error policy, kept pure so it can be tested: network errors reload,
// media errors recover the decoder, anything else (or too many tries in a minute) gives up.

export const RECOVERY_WINDOW_MS = 60_000;
export const MAX_RECOVERIES_PER_WINDOW = 5;

/** 'startLoad' | 'recoverMediaError' | 'give-up', and the recovery times to keep. */
export function decideRecovery(errorType, recentMs, nowMs) {
  const recent = recentMs.filter((at) => nowMs - at < RECOVERY_WINDOW_MS);
  if (recent.length >= MAX_RECOVERIES_PER_WINDOW) return { action: 'give-up', recent };
  if (errorType === 'networkError') return { action: 'startLoad', recent: [...recent, nowMs] };
  if (errorType === 'mediaError') return { action: 'recoverMediaError', recent: [...recent, nowMs] };
  return { action: 'give-up', recent };
}
