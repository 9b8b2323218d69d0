import assert from 'node:assert/strict';
import { test } from 'node:test';

import { classifyUrl } from '../src/lib/url-kind.js';

test('YouTube watch pages go to server-side ingest with a canonical URL', () => {
  assert.deepEqual(classifyUrl('https://www.youtube.com/watch?v=abc123&list=PL1&t=30'),
    { kind: 'youtube', url: 'https://www.youtube.com/watch?v=abc123' });
  assert.deepEqual(classifyUrl('https://m.youtube.com/watch?v=abc123'),
    { kind: 'youtube', url: 'https://www.youtube.com/watch?v=abc123' });
});

test('youtu.be short links go to server-side ingest', () => {
  assert.deepEqual(classifyUrl('https://youtu.be/abc123?t=5'),
    { kind: 'youtube', url: 'https://www.youtube.com/watch?v=abc123' });
});

test('YouTube pages that are not a video are captured like any page', () => {
  assert.deepEqual(classifyUrl('https://www.youtube.com/'), { kind: 'capture' });
  assert.deepEqual(classifyUrl('https://www.youtube.com/watch'), { kind: 'capture' });
  assert.deepEqual(classifyUrl('https://notyoutube.com/watch?v=abc'), { kind: 'capture' });
});

test('browser pages that Chrome will not capture are refused with a reason', () => {
  for (const url of ['chrome://settings', 'chrome-extension://abc/player.html', 'https://chromewebstore.google.com/detail/x']) {
    const result = classifyUrl(url);
    assert.equal(result.kind, 'unsupported', url);
    assert.match(result.reason, /does not allow/);
  }
});

test('a tab whose URL is hidden is still captured', () => {
  assert.deepEqual(classifyUrl(undefined), { kind: 'capture' });
});
