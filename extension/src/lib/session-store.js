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

export const ACTIVE_STATES = new Set(['starting', 'recording', 'stopping']);

export const streamKey = (id) => `stream:${id}`;

/** The capture record once a start for `tabId` is claimed, or null while one is active:
 * applied inside the one queue of capture writes, so two clicks start one capture. */
export function claimStart(capture, tabId) {
  return ACTIVE_STATES.has(capture.state) ? null : { ...IDLE_CAPTURE, state: 'starting', tabId };
}

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
