// Gets recorded clips to the API in order: presign -> upload to S3 -> register, each clip
// retried as a whole with backoff. A clip that still fails is reported, never dropped quietly,
// and the queue moves on so one bad clip cannot stall the stream forever.

import { retry } from './backoff.js';
import { serialQueue } from './serial-queue.js';

export class ClipUploader {
  /**
   * `api` is a SharprApi holding the stream's token; `onEvent({type, seq, ...})` hears every
   * 'uploading' | 'retrying' | 'registered' | 'failed' step; `retryOptions` go to retry().
   */
  constructor(api, streamId, { onEvent = () => {}, retryOptions = {} } = {}) {
    this.api = api;
    this.streamId = streamId;
    this.onEvent = onEvent;
    this.retryOptions = retryOptions;
    this.inOrder = serialQueue();
    this.tail = Promise.resolve();
    this.failed = [];
  }

  /** Queue clip `seq` (captured for model `tier`, if any); clips are sent one at a time, in the order they were queued. */
  enqueue(seq, blob, tier) {
    this.tail = this.inOrder(() => this.#send(seq, blob, tier));
    return this.tail;
  }

  /** Resolves once every queued clip is registered or reported failed. */
  drain() {
    return this.tail;
  }

  async #send(seq, blob, tier) {
    this.onEvent({ type: 'uploading', seq, bytes: blob.size });
    try {
      const clip = await retry(() => this.#sendOnce(seq, blob, tier), {
        ...this.retryOptions,
        isRetryable: (error) => Boolean(error.retryable),
        onRetry: ({ attempt, delayMs, error }) =>
          this.onEvent({ type: 'retrying', seq, attempt, delayMs, code: error.code, message: error.message }),
      });
      this.onEvent({ type: 'registered', seq, clip });
    } catch (error) {
      this.failed.push(seq);
      this.onEvent({ type: 'failed', seq, code: error.code ?? 'error', message: error.message });
    }
  }

  async #sendOnce(seq, blob, tier) {
    try {
      const presigned = await this.api.presignUpload(this.streamId, seq, 'webm');
      await this.api.uploadClip(presigned, blob, `${String(seq).padStart(6, '0')}.webm`);
      return await this.api.registerClip(this.streamId, seq, presigned.key, tier);
    } catch (error) {
      // An earlier attempt registered it and only the answer was lost: that is success. The
      // server then grants no new upload for it, or refuses the registration, with this code.
      if (error.code === 'clip_exists') return { seq, state: 'queued' };
      throw error;
    }
  }
}
