// Routes messages between popup, player and the offscreen recorder, and owns the state in
// chrome.storage.session. It records nothing itself: capture lives in the offscreen document,
// because a service worker has no DOM and Chrome may stop it at any moment.
// Messages are {type, target: 'service-worker', data}.

import { SharprApi } from './lib/api-client.js';
import { fromExtensionPage } from './lib/messages.js';
import { enhancementBody } from './lib/options.js';
import { serialQueue } from './lib/serial-queue.js';
import { ACTIVE_STATES, CAPTURE_KEY, claimStart, readCapture, readOptions, readStream, writeStream } from './lib/session-store.js';
import { classifyUrl } from './lib/url-kind.js';

const OFFSCREEN_URL = 'offscreen.html';

// Writes to the capture record are read-modify-write; queueing them keeps concurrent clip
// events from overwriting each other, and one failed write does not stop the ones after
// it. This is a lock, not state: losing it loses nothing.
const serially = serialQueue();
function updateCapture(change) {
  return serially(async () => {
    const next = change(await readCapture());
    await chrome.storage.session.set({ [CAPTURE_KEY]: next });
    return next;
  });
}

function fail(code, message) {
  return updateCapture((capture) => ({ ...capture, state: 'failed', error: { code, message } }));
}

async function hasOffscreenDocument() {
  const contexts = await chrome.runtime.getContexts({
    contextTypes: ['OFFSCREEN_DOCUMENT'],
    documentUrls: [chrome.runtime.getURL(OFFSCREEN_URL)],
  });
  return contexts.length > 0;
}

function openPlayer(streamId) {
  return chrome.tabs.create({ url: chrome.runtime.getURL(`player.html?stream=${encodeURIComponent(streamId)}`) });
}

/** Popup asked to enhance `tab`: YouTube goes to server-side ingest, anything else is captured. */
async function startForTab({ tabId, url }) {
  let claimed = false;
  await updateCapture((capture) => {
    const next = claimStart(capture, tabId);
    claimed = next !== null;
    return next ?? capture;
  });
  if (!claimed) return readCapture(); // a second click while the first one starts: one capture
  const route = classifyUrl(url);
  if (route.kind === 'unsupported') return fail('unsupported_page', route.reason);

  const options = await readOptions();
  const api = new SharprApi(options.apiBaseUrl);
  try {
    if (route.kind === 'youtube') {
      const video = await api.createVideo(route.url, enhancementBody(options));
      await writeStream({ id: video.id, token: video.token, apiBaseUrl: options.apiBaseUrl, playlistUrl: video.playlist_url, kind: 'video', clipSeconds: options.clipSeconds, captureStartedAt: null });
      await updateCapture((capture) => ({ ...capture, state: 'ended', streamId: video.id }));
      await openPlayer(video.id);
      return readCapture();
    }
    // Ask for the tab's media first: the grant from the user's click is for this tab now.
    const mediaStreamId = await chrome.tabCapture.getMediaStreamId({ targetTabId: tabId });
    if (!(await hasOffscreenDocument())) {
      await chrome.offscreen.createDocument({
        url: OFFSCREEN_URL,
        reasons: ['USER_MEDIA'],
        justification: 'Records the video in the tab in clips and uploads them for enhancement.',
      });
    }
    await findVideos(tabId); // after the recorder exists: the finder reports to it
    const started = await chrome.runtime.sendMessage({
      type: 'start-recording',
      target: 'offscreen',
      data: { mediaStreamId, tabId, apiBaseUrl: options.apiBaseUrl, clipSeconds: options.clipSeconds, enhancement: { ...enhancementBody(options), scale: 2 } },
    });
    if (started.error) throw Object.assign(new Error(started.error.message), { code: started.error.code });
    const { stream, startedAt, size, fallingBehind } = started;
    await writeStream({ ...stream, apiBaseUrl: options.apiBaseUrl, kind: 'capture', captureStartedAt: startedAt });
    await updateCapture((capture) => ({ ...capture, state: 'recording', streamId: stream.id, size, fallingBehind, lag: null }));
    await openPlayer(stream.id);
  } catch (error) {
    await fail(error.code ?? 'capture_failed', error.message);
    if (await hasOffscreenDocument()) await chrome.offscreen.closeDocument();
  }
  return readCapture();
}

/**
 * Injects the video finder into every frame of the tab the extension may read (activeTab
 * gives the page's own origin; other frames need their host's permission). Without access
 * the recorder captures the whole viewport.
 */
async function findVideos(tabId) {
  try {
    await chrome.scripting.executeScript({ target: { tabId, allFrames: true }, files: ['video-finder.js'] });
  } catch (error) {
    console.warn(`sharpr: event=video_finder_refused tab=${tabId} message=${error.message}`);
  }
}

/** Stop asked by popup or player: the offscreen document finishes and uploads the last clip. */
async function stop() {
  const capture = await readCapture();
  if (!ACTIVE_STATES.has(capture.state)) return capture;
  if (await hasOffscreenDocument()) {
    await updateCapture((current) => ({ ...current, state: 'stopping' }));
    await chrome.runtime.sendMessage({ type: 'stop-recording', target: 'offscreen' });
    return readCapture();
  }
  // The recorder is gone (crashed or closed): end the stream so the player reaches its end.
  const stream = await readStream(capture.streamId);
  if (stream) await new SharprApi(stream.apiBaseUrl, stream.token).stopStream(stream.id).catch(() => {});
  return updateCapture((current) => ({ ...current, state: 'ended' }));
}

/** The recorder re-picked its size from the delay: the player shows it, and whether it keeps up. */
function capturePace({ streamId, size, fallingBehind, lag }) {
  return updateCapture((capture) => (capture.streamId === streamId ? { ...capture, size, fallingBehind, lag } : capture));
}

function clipEvent({ seq, type, code, message }) {
  const upload = { uploading: 'uploading', retrying: 'retrying', registered: 'registered', failed: 'failed' }[type];
  return updateCapture((capture) => ({
    ...capture,
    clips: { ...capture.clips, [seq]: { upload, message: message ?? '', code: code ?? null } },
  }));
}

async function recordingEnded({ error }) {
  await updateCapture((capture) => (error
    ? { ...capture, state: 'failed', error }
    : { ...capture, state: 'ended' }));
  if (await hasOffscreenDocument()) await chrome.offscreen.closeDocument();
}

const HANDLERS = {
  'start-capture': startForTab,
  'stop-capture': stop,
  'get-capture': readCapture,
  'capture-pace': capturePace,
  'clip-event': clipEvent,
  'recording-ended': recordingEnded,
};

chrome.runtime.onMessage.addListener((message, sender, sendResponse) => {
  if (message.target !== 'service-worker') return false;
  if (!fromExtensionPage(sender, chrome.runtime.id, chrome.runtime.getURL(''))) {
    console.warn(`sharpr: event=message_refused type=${message.type} from=${sender.url}`);
    return false;
  }
  const handler = HANDLERS[message.type];
  if (!handler) {
    console.warn(`sharpr: unknown message type=${message.type}`);
    return false;
  }
  handler(message.data ?? {}).then(sendResponse, (error) => sendResponse({ error: { code: error.code ?? 'error', message: error.message } }));
  return true; // the answer comes asynchronously
});
