// Progress without server-sent events. The API refuses an event stream (429) when a token or
// an address already holds too many; the page then polls the stream's status instead.

const FINAL_STATES = new Set(['ended', 'failed']);

/** The clips that changed since `seen` (seq -> updated_at), which is brought up to date. */
export function changedClips(seen, clips) {
  const changed = clips.filter((clip) => seen.get(clip.seq) !== clip.updated_at);
  for (const clip of changed) seen.set(clip.seq, clip.updated_at);
  return changed;
}

const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Call `getStream()` every `intervalMs`, reporting changed clips and state changes as the
 * event stream would, until the stream ends or fails (or is gone: 404, reported 'expired').
 * Any other failure (offline, 429, 503) is passing: the next poll tries again.
 */
export async function pollStatus(getStream, { onClip, onState, intervalMs = 2000, sleep = wait }) {
  const seen = new Map();
  let state = null;
  for (;;) {
    try {
      const stream = await getStream();
      changedClips(seen, stream.clips).forEach(onClip);
      if (stream.state !== state) onState((state = stream.state));
      if (FINAL_STATES.has(state)) return state;
    } catch (error) {
      if (error.status === 404) {
        onState('expired');
        return 'expired';
      }
    }
    await sleep(intervalMs);
  }
}
