import assert from 'node:assert/strict';
import { test } from 'node:test';

import { changedClips, pollStatus } from '../src/lib/status-poll.js';

const clip = (seq, state, updatedAt) => ({ seq, state, updated_at: updatedAt });

test('changedClips reports a clip once per change', () => {
  const seen = new Map();
  assert.deepEqual(changedClips(seen, [clip(0, 'queued', 1)]).map((c) => c.seq), [0]);
  assert.deepEqual(changedClips(seen, [clip(0, 'queued', 1), clip(1, 'queued', 2)]).map((c) => c.seq), [1]);
  assert.deepEqual(changedClips(seen, [clip(0, 'packaged', 3), clip(1, 'queued', 2)]).map((c) => c.state), ['packaged']);
});

test('pollStatus reports changes until the stream ends, riding out passing failures', async () => {
  const answers = [
    { state: 'live', clips: [clip(0, 'upscaling', 1)] },
    Object.assign(new Error('busy'), { status: 429 }),
    { state: 'ending', clips: [clip(0, 'packaged', 2)] },
    { state: 'ended', clips: [clip(0, 'packaged', 2)] },
  ];
  const clips = [];
  const states = [];
  const sleeps = [];
  const final = await pollStatus(
    async () => {
      const answer = answers.shift();
      if (answer instanceof Error) throw answer;
      return answer;
    },
    { onClip: (c) => clips.push(c.state), onState: (s) => states.push(s), intervalMs: 5, sleep: async (ms) => sleeps.push(ms) },
  );
  assert.equal(final, 'ended');
  assert.deepEqual(clips, ['upscaling', 'packaged']);
  assert.deepEqual(states, ['live', 'ending', 'ended']);
  assert.deepEqual(sleeps, [5, 5, 5]);
});

test('pollStatus stops on a stream that is gone', async () => {
  const states = [];
  const final = await pollStatus(
    async () => { throw Object.assign(new Error('gone'), { status: 404 }); },
    { onClip: () => {}, onState: (s) => states.push(s), sleep: async () => {} },
  );
  assert.equal(final, 'expired');
  assert.deepEqual(states, ['expired']);
});
