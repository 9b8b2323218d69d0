import assert from 'node:assert/strict';
import { test } from 'node:test';

import { fromExtensionPage, fromThisExtension } from '../src/lib/messages.js';
import { serialQueue } from '../src/lib/serial-queue.js';
import { IDLE_CAPTURE, claimStart } from '../src/lib/session-store.js';

const ID = 'abcdefghijklmnopabcdefghijklmnop';
const ORIGIN = `chrome-extension://${ID}/`;

test('only the extension\'s own pages may start, stop or report on a capture', () => {
  assert.equal(fromExtensionPage({ id: ID, url: `${ORIGIN}popup.html` }, ID, ORIGIN), true);
  assert.equal(fromExtensionPage({ id: ID, url: `${ORIGIN}player.html?stream=x`, tab: { id: 3 } }, ID, ORIGIN), true);
  // Our own content script, inside a web page: its messages are the page's to forge.
  assert.equal(fromExtensionPage({ id: ID, url: 'https://example.com/watch', tab: { id: 3 } }, ID, ORIGIN), false);
  assert.equal(fromExtensionPage({ id: 'another-extension', url: `chrome-extension://another-extension/x.html` }, ID, ORIGIN), false);
  assert.equal(fromExtensionPage(undefined, ID, ORIGIN), false);
});

test('geometry reports may come from this extension\'s content scripts, not another extension', () => {
  assert.equal(fromThisExtension({ id: ID, url: 'https://example.com/', tab: { id: 1 }, frameId: 0 }, ID), true);
  assert.equal(fromThisExtension({ id: 'another-extension' }, ID), false);
});

test('a failed task does not stop the tasks queued after it', async () => {
  const run = serialQueue();
  const order = [];
  const first = run(async () => { order.push('first'); throw new Error('storage write failed'); });
  const second = run(async () => { order.push('second'); return 2; });
  await assert.rejects(first, /storage write failed/);
  assert.equal(await second, 2);
  assert.deepEqual(order, ['first', 'second']);
});

test('queued tasks run one at a time, in order', async () => {
  const run = serialQueue();
  let record = 0;
  const bump = () => run(async () => { const read = record; await new Promise((r) => setTimeout(r, 5)); record = read + 1; });
  await Promise.all([bump(), bump(), bump()]);
  assert.equal(record, 3); // interleaved read-modify-writes would leave 1
});

test('two clicks at once claim one start: the second finds the first starting', async () => {
  const run = serialQueue();
  let stored = { ...IDLE_CAPTURE };
  const click = (tabId) => run(async () => {
    const next = claimStart(await Promise.resolve(stored), tabId);
    if (next) stored = next;
    return next !== null;
  });
  assert.deepEqual(await Promise.all([click(7), click(7)]), [true, false]);
  assert.equal(stored.state, 'starting');
  assert.equal(claimStart({ ...IDLE_CAPTURE, state: 'ended' }, 8).state, 'starting'); // a finished one may be followed
});
