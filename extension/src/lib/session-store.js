// The extension's state in chrome.storage.session (cleared when the browser closes), never in
// service-worker globals, because Chrome stops an idle service worker mid-recording. The
// service worker is the only writer; popup and player read it and listen for changes.
//
//   capture         {state, tabId, streamId, error, clips: {seq: {upload, message}},
//                    size: {width, height, fps, tier} (the capture rung), fallingBehind, lag (s)}
//   stream:<id>     {id, token, apiBaseUrl, playlistUrl, kind, clipSeconds, captureStartedAt}

import { normalizeOptions } from './options.js';

export const CAPTURE_KEY = 'capture';
export const IDLE_CAPTURE = Object.freeze({
  state: 'idle', tabId: null, streamId: null, error: null, clips: {}, size: null, fallingBehind: false, lag: null,
});

export const streamKey = (id) => `stream:${id}`;

export async function readCapture() {
  const { [CAPTURE_KEY]: capture } = await chrome.storage.session.get(CAPTURE_KEY);
  return capture ?? { ...IDLE_CAPTURE };
}

export async function readStream(id) {
  const { [streamKey(id)]: stream } = await chrome.storage.session.get(streamKey(id));
  return stream ?? null;
}

export function writeStream(stream) {
  return chrome.storage.session.set({ [streamKey(stream.id)]: stream });
}

/** Calls `listener(capture)` whenever the capture state changes. */
export function onCaptureChanged(listener) {
  chrome.storage.onChanged.addListener((changes, area) => {
    if (area === 'session' && changes[CAPTURE_KEY]) listener(changes[CAPTURE_KEY].newValue ?? { ...IDLE_CAPTURE });
  });
}

export async function readOptions() {
  return normalizeOptions(await chrome.storage.sync.get(null));
}
