// Retry with exponential backoff and full jitter: how the extension survives a flaky network
// or a restarting API without hammering it. Pure: time and randomness are injected.

export const DEFAULT_RETRY = Object.freeze({ attempts: 6, baseMs: 500, capMs: 10_000 });

/** Delay before retry number `attempt` (0-based): uniform in [0, min(cap, base * 2^attempt)). */
export function backoffDelay(attempt, { baseMs, capMs } = DEFAULT_RETRY, random = Math.random) {
  const ceiling = Math.min(capMs, baseMs * 2 ** attempt);
  return Math.floor(random() * ceiling);
}

const realSleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Run `task(attempt)` until it resolves, `isRetryable(error)` says no, or attempts run out;
 * the last error is rethrown so a caller can never lose a failure silently.
 */
export async function retry(task, {
  attempts = DEFAULT_RETRY.attempts,
  baseMs = DEFAULT_RETRY.baseMs,
  capMs = DEFAULT_RETRY.capMs,
  isRetryable = () => true,
  onRetry = () => {},
  sleep = realSleep,
  random = Math.random,
} = {}) {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await task(attempt);
    } catch (error) {
      if (attempt + 1 >= attempts || !isRetryable(error)) throw error;
      const delayMs = backoffDelay(attempt, { baseMs, capMs }, random);
      onRetry({ attempt, delayMs, error });
      await sleep(delayMs);
    }
  }
}
