// How far the enhanced picture is behind what the tab showed. Clips are contiguous, so the
// frame at playlist time t was captured at captureStart + t; without a capture start (a video
// ingested from its URL) the distance to the playlist's live edge is the best measure.

/** Seconds behind live, or null when nothing is known yet. */
export function delayBehindLive({ captureStartedAt = null, currentTime, nowMs, liveEdgeLatency = null }) {
  if (captureStartedAt !== null && Number.isFinite(currentTime)) {
    return Math.max(0, (nowMs - captureStartedAt) / 1000 - currentTime);
  }
  return Number.isFinite(liveEdgeLatency) ? Math.max(0, liveEdgeLatency) : null;
}

/** "12 s behind live" / "1 min 5 s behind live" / "" when unknown. */
export function formatDelay(seconds) {
  if (seconds === null) return '';
  const whole = Math.round(seconds);
  if (whole < 60) return `${whole} s behind live`;
  return `${Math.floor(whole / 60)} min ${whole % 60} s behind live`;
}
