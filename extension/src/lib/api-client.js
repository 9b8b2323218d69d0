// The SharprAI API as the extension uses it: one method per endpoint, every failure turned
// into an ApiError that says whether trying again can help.

export class ApiError extends Error {
  constructor(code, message, { status = 0, retryable = false } = {}) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = status;
    this.retryable = retryable;
  }
}

// 408/429 and server errors are transient; other 4xx mean the request itself is wrong.
const isTransientStatus = (status) => status === 408 || status === 429 || status >= 500;

async function send(fetchImpl, url, init) {
  let response;
  try {
    response = await fetchImpl(url, init);
  } catch (error) {
    throw new ApiError('unreachable', `cannot reach ${new URL(url).origin}: ${error.message}`, { retryable: true });
  }
  if (response.ok) return response;
  let code = `http_${response.status}`;
  let message = response.statusText || 'request failed';
  try {
    const body = await response.json();
    code = body?.error?.code ?? code;
    message = body?.error?.message ?? message;
  } catch { /* not our JSON (a proxy or S3 XML): keep the status */ }
  throw new ApiError(code, message, { status: response.status, retryable: isTransientStatus(response.status) });
}

export class SharprApi {
  /** `token` may be null until a stream exists; `fetchImpl` is injectable for tests. */
  constructor(baseUrl, token = null, fetchImpl = globalThis.fetch.bind(globalThis)) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.token = token;
    this.fetch = fetchImpl;
  }

  async #json(method, path, body) {
    const headers = { 'Content-Type': 'application/json' };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    const init = { method, headers };
    if (body !== undefined) init.body = JSON.stringify(body);
    const response = await send(this.fetch, `${this.baseUrl}${path}`, init);
    return response.json();
  }

  createStream(body) { return this.#json('POST', '/v1/streams', body); }
  createVideo(url, enhancement) { return this.#json('POST', '/v1/videos', { url, ...enhancement }); }

  /** The fleet's capacity (`GET /v1/capacity`), or null from a server too old to know it. */
  async capacity() {
    try {
      return await this.#json('GET', '/v1/capacity');
    } catch (error) {
      if (error.status === 404) return null;
      throw error;
    }
  }
  getStream(id) { return this.#json('GET', `/v1/streams/${id}`); }
  stopStream(id) { return this.#json('POST', `/v1/streams/${id}/stop`, {}); }
  presignUpload(id, seq, ext) { return this.#json('POST', `/v1/streams/${id}/uploads`, { seq, ext }); }
  /** `tier`: the one the clip was captured for (used by a stream on auto); undefined sends none. */
  registerClip(id, seq, key, tier) { return this.#json('POST', `/v1/streams/${id}/clips`, { seq, key, tier }); }

  /** S3 presigned POST: every policy field first, the file last, or S3 rejects the form. */
  async uploadClip(presigned, blob, filename) {
    if (blob.size > presigned.max_bytes) {
      throw new ApiError('clip_too_large', `clip is ${blob.size} bytes, the limit is ${presigned.max_bytes}`);
    }
    const form = new FormData();
    for (const [name, value] of Object.entries(presigned.fields)) form.append(name, value);
    form.append('file', blob, filename);
    try {
      await send(this.fetch, presigned.url, { method: 'POST', body: form });
    } catch (error) {
      // A 403 from S3 is most often an expired policy; a fresh presign (the retry) cures it.
      if (error.status === 403) error.retryable = true;
      throw error;
    }
  }

  /** EventSource cannot send headers, so the token rides in the query. */
  eventsUrl(id) {
    return `${this.baseUrl}/v1/streams/${id}/events?token=${encodeURIComponent(this.token)}`;
  }
}
