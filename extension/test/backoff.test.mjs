import assert from 'node:assert/strict';
import { test } from 'node:test';

import { backoffDelay, retry } from '../src/lib/backoff.js';

test('backoff ceiling doubles per attempt and stops at the cap', () => {
  const top = () => 0.999999;
  const ceilings = [0, 1, 2, 3, 4, 5, 6].map((attempt) => backoffDelay(attempt, { baseMs: 500, capMs: 10_000 }, top));
  assert.deepEqual(ceilings, [499, 999, 1999, 3999, 7999, 9999, 9999]);
});

test('backoff is full jitter: a zero draw means no wait', () => {
  assert.equal(backoffDelay(4, { baseMs: 500, capMs: 10_000 }, () => 0), 0);
});

test('retry returns the first success after transient failures', async () => {
  const waits = [];
  let calls = 0;
  const result = await retry(async () => {
    calls += 1;
    if (calls < 3) throw Object.assign(new Error('flaky'), { retryable: true });
    return 'ok';
  }, { sleep: async (ms) => waits.push(ms), random: () => 0.5, baseMs: 100, capMs: 1000 });
  assert.equal(result, 'ok');
  assert.equal(calls, 3);
  assert.deepEqual(waits, [50, 100]);
});

test('retry rethrows the last error once attempts run out', async () => {
  let calls = 0;
  await assert.rejects(
    retry(async () => { calls += 1; throw new Error(`try ${calls}`); }, { attempts: 4, sleep: async () => {} }),
    /try 4/,
  );
  assert.equal(calls, 4);
});

test('retry does not retry an error the caller calls permanent', async () => {
  let calls = 0;
  await assert.rejects(
    retry(async () => { calls += 1; throw new Error('bad request'); }, { isRetryable: () => false, sleep: async () => {} }),
    /bad request/,
  );
  assert.equal(calls, 1);
});
