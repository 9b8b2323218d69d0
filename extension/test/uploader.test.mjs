import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ApiError, SharprApi } from '../src/lib/api-client.js';
import { ClipUploader } from '../src/lib/uploader.js';

/** An in-memory stand-in for the network edge only: answers per URL from a script. */
function scriptedFetch(script) {
  const calls = [];
  const fetchImpl = async (url, init) => {
    const path = new URL(url).pathname;
    calls.push({ path, init });
    const next = script(path, init, calls);
    if (next instanceof Error) throw next;
    return new Response(next.body === undefined ? null : JSON.stringify(next.body), { status: next.status });
  };
  return { fetchImpl, calls };
}

const presigned = (seq) => ({ url: 'http://s3.test/bucket', fields: { key: `k/${seq}`, policy: 'p' }, key: `k/${seq}`, expires_in: 300, max_bytes: 1000 });
const noWait = { sleep: async () => {}, random: () => 0 };

test('clips are uploaded and registered in the order they were queued', async () => {
  const { fetchImpl, calls } = scriptedFetch((path, init) => {
    if (path.endsWith('/uploads')) return { status: 200, body: presigned(JSON.parse(init.body).seq) };
    if (path === '/bucket') return { status: 204 };
    return { status: 202, body: { seq: JSON.parse(init.body).seq, state: 'queued' } };
  });
  const events = [];
  const uploader = new ClipUploader(new SharprApi('http://api.test/', 'tok', fetchImpl), 's1', { onEvent: (e) => events.push(e), retryOptions: noWait });
  uploader.enqueue(0, new Blob(['a']));
  uploader.enqueue(1, new Blob(['b']));
  await uploader.drain();
  assert.deepEqual(events.filter((e) => e.type === 'registered').map((e) => e.seq), [0, 1]);
  assert.deepEqual(calls.map((c) => c.path), ['/v1/streams/s1/uploads', '/bucket', '/v1/streams/s1/clips', '/v1/streams/s1/uploads', '/bucket', '/v1/streams/s1/clips']);
  assert.equal(calls[0].init.headers.Authorization, 'Bearer tok');
  const form = calls[1].init.body;
  assert.deepEqual([...form.keys()], ['key', 'policy', 'file'], 'the file goes last in an S3 POST form');
});

test('a transient failure is retried with a fresh presign', async () => {
  let uploads = 0;
  const { fetchImpl, calls } = scriptedFetch((path) => {
    if (path.endsWith('/uploads')) return { status: 200, body: presigned(0) };
    if (path === '/bucket') return (uploads += 1) === 1 ? new TypeError('network down') : { status: 204 };
    return { status: 202, body: { seq: 0 } };
  });
  const events = [];
  const uploader = new ClipUploader(new SharprApi('http://api.test', 'tok', fetchImpl), 's1', { onEvent: (e) => events.push(e), retryOptions: noWait });
  await uploader.enqueue(0, new Blob(['a']));
  assert.deepEqual(events.map((e) => e.type), ['uploading', 'retrying', 'registered']);
  assert.equal(events[1].code, 'unreachable');
  assert.equal(calls.filter((c) => c.path.endsWith('/uploads')).length, 2);
});

test('a clip already registered by a lost earlier answer counts as registered', async () => {
  const { fetchImpl } = scriptedFetch((path) => {
    if (path.endsWith('/uploads')) return { status: 200, body: presigned(3) };
    if (path === '/bucket') return { status: 204 };
    return { status: 409, body: { error: { code: 'clip_exists', message: 'seq 3 exists' } } };
  });
  const events = [];
  const uploader = new ClipUploader(new SharprApi('http://api.test', 'tok', fetchImpl), 's1', { onEvent: (e) => events.push(e), retryOptions: noWait });
  await uploader.enqueue(3, new Blob(['a']));
  assert.deepEqual(events.map((e) => e.type), ['uploading', 'registered']);
});

test('a retry after a lost registration answer, refused a new grant as registered, counts as registered', async () => {
  const { fetchImpl, calls } = scriptedFetch((path, _init, sent) => {
    const grants = sent.filter((call) => call.path.endsWith('/uploads')).length;
    if (path.endsWith('/uploads')) {
      return grants === 1 ? { status: 200, body: presigned(3) } : { status: 409, body: { error: { code: 'clip_exists', message: 'clip 3 is already registered' } } };
    }
    if (path === '/bucket') return { status: 204 };
    return new TypeError('Failed to fetch'); // registered, but the answer never came back
  });
  const events = [];
  const uploader = new ClipUploader(new SharprApi('http://api.test', 'tok', fetchImpl), 's1', { onEvent: (e) => events.push(e), retryOptions: noWait });
  await uploader.enqueue(3, new Blob(['a']));
  assert.deepEqual(events.map((e) => e.type), ['uploading', 'retrying', 'registered']);
  assert.equal(calls.filter((call) => call.path === '/bucket').length, 1); // the clip is not uploaded again
});

test('a clip that keeps failing is reported and the next clip still goes', async () => {
  const { fetchImpl } = scriptedFetch((path, init) => {
    const seq = init.body instanceof FormData ? null : JSON.parse(init.body).seq;
    if (path.endsWith('/uploads')) return seq === 0 ? { status: 503, body: { error: { code: 'unavailable', message: 'S3 down' } } } : { status: 200, body: presigned(seq) };
    if (path === '/bucket') return { status: 204 };
    return { status: 202, body: { seq } };
  });
  const events = [];
  const uploader = new ClipUploader(new SharprApi('http://api.test', 'tok', fetchImpl), 's1', { onEvent: (e) => events.push(e), retryOptions: { ...noWait, attempts: 3 } });
  uploader.enqueue(0, new Blob(['a']));
  uploader.enqueue(1, new Blob(['b']));
  await uploader.drain();
  assert.deepEqual(events.filter((e) => e.type !== 'uploading').map((e) => [e.type, e.seq]),
    [['retrying', 0], ['retrying', 0], ['failed', 0], ['registered', 1]]);
  assert.equal(events.find((e) => e.type === 'failed').code, 'unavailable');
  assert.deepEqual(uploader.failed, [0]);
});

test('a request the server calls invalid is not retried', async () => {
  let presigns = 0;
  const { fetchImpl } = scriptedFetch(() => { presigns += 1; return { status: 422, body: { error: { code: 'validation_error', message: 'seq' } } }; });
  const events = [];
  const uploader = new ClipUploader(new SharprApi('http://api.test', 'tok', fetchImpl), 's1', { onEvent: (e) => events.push(e), retryOptions: noWait });
  await uploader.enqueue(0, new Blob(['a']));
  assert.equal(presigns, 1);
  assert.equal(events.at(-1).type, 'failed');
});

test('a clip larger than the presigned limit fails without uploading', async () => {
  const { fetchImpl, calls } = scriptedFetch(() => ({ status: 200, body: presigned(0) }));
  const api = new SharprApi('http://api.test', 'tok', fetchImpl);
  await assert.rejects(api.uploadClip(presigned(0), new Blob([new Uint8Array(2000)]), 'x.webm'),
    (error) => error instanceof ApiError && error.code === 'clip_too_large' && !error.retryable);
  assert.equal(calls.length, 0);
});

test('each clip is registered with the tier it was captured for; none sends no tier', async () => {
  const { fetchImpl, calls } = scriptedFetch((path, init) => {
    if (path.endsWith('/uploads')) return { status: 200, body: presigned(JSON.parse(init.body).seq) };
    if (path === '/bucket') return { status: 204 };
    return { status: 202, body: { seq: JSON.parse(init.body).seq } };
  });
  const uploader = new ClipUploader(new SharprApi('http://api.test', 'tok', fetchImpl), 's1', { retryOptions: noWait });
  uploader.enqueue(0, new Blob(['a']), 'balanced');
  uploader.enqueue(1, new Blob(['b']), 'fast');
  uploader.enqueue(2, new Blob(['c']));
  await uploader.drain();
  const registrations = calls.filter((c) => c.path.endsWith('/clips')).map((c) => JSON.parse(c.init.body));
  assert.deepEqual(registrations, [{ seq: 0, key: 'k/0', tier: 'balanced' }, { seq: 1, key: 'k/1', tier: 'fast' }, { seq: 2, key: 'k/2' }]);
});
