// The offscreen document: turns the tab's media stream id into a MediaStream, lets the user
// keep hearing the tab, crops it to the video the user watches (video-finder.js reports where
// it is) at a size the fleet keeps up with, records that in clips and uploads them, and
// re-picks the size (and model tier) for each clip from how far behind live the stream is,
// telling the server which tier each clip was captured for. Offscreen documents
// may only use chrome.runtime, so every state change is a message to the service worker.

import { SharprApi } from './lib/api-client.js';
import {
  adaptDecision, budgetFor, captureFps, captureRungs, fallingBehind, lagSeconds, nextRung, pixelsPerSecond, rungTiers,
  startRung,
} from './lib/capture-size.js';
import { CroppedCapture } from './lib/cropped-capture.js';
import { fromExtensionPage, fromThisExtension } from './lib/messages.js';
import { ClipRecorder } from './lib/recorder.js';
import { ClipUploader } from './lib/uploader.js';
import { pickVideo, toFramePixels } from './lib/video-geometry.js';

// Every frame's finder reports each second (as throttled as the others when the tab is in the
// background): a report this much older than the tab's newest is from a frame that is gone.
const REPORT_FRESH_MS = 3000;
const FIRST_REPORT_MS = 1000; // no report by then: no access to the page, capture the viewport
const FIRST_FRAME_MS = 10_000; // a tab capture starts slowly on a loaded machine
const BLACK_CHECK_MS = 1000;
const DEFAULT_MAX_PIXELS = 1920 * 1080; // the server's default clip limit, for a server that does not say
const MAX_TAB = { width: 3840, height: 2160 }; // the largest clip the server takes at all

// Latest video-finder report of each frame: `${tabId}/${frameId}` -> {at, top, viewport, dpr, clips, videos}.
const reports = new Map();
// One recording per document; the service worker closes the document when it ends.
let session = null;
// Stop pressed while the recording was still starting: it ends as soon as it has started.
let stopAsked = false;

const tell = (type, data) => chrome.runtime.sendMessage({ type, target: 'service-worker', data });
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

class StartError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/** What to capture in `tabId` now: the chosen video's visible picture, else the viewport; null if unknown. */
function target(tabId) {
  const all = [...reports.entries()].filter(([key]) => key.startsWith(`${tabId}/`)).map(([, report]) => report);
  const newest = Math.max(...all.map((report) => report.at));
  const frames = all.filter((report) => newest - report.at < REPORT_FRESH_MS);
  const top = frames.find((frame) => frame.top);
  if (!top) return null;
  const video = pickVideo(frames);
  return { viewport: top.viewport, dpr: top.dpr, video, rect: video?.visible ?? { x: 0, y: 0, ...top.viewport } };
}

async function waitFor(check, ms) {
  const deadline = Date.now() + ms;
  while (!check() && Date.now() < deadline) await sleep(50);
  return check();
}

/** The tab's audio and its video at the viewport's device pixels (so the crop keeps every pixel). */
async function tabMedia(mediaStreamId, first) {
  const source = { chromeMediaSource: 'tab', chromeMediaSourceId: mediaStreamId };
  const device = first
    ? { width: Math.round(first.viewport.width * first.dpr), height: Math.round(first.viewport.height * first.dpr) }
    : MAX_TAB;
  const video = { ...source, maxWidth: Math.min(device.width, MAX_TAB.width), maxHeight: Math.min(device.height, MAX_TAB.height), maxFrameRate: 30 };
  try {
    return await navigator.mediaDevices.getUserMedia({ audio: { mandatory: source }, video: { mandatory: video } });
  } catch (error) {
    throw new StartError('capture_failed', error.message);
  }
}

/** What the server hears of a rung when the stream is created: the size, not the tier. */
const captureOf = ({ width, height, fps }) => ({ width, height, fps });

/** Size and pace now: the rung for the next clip, and whether even the smallest falls behind. */
const pace = (current, fallingBehind) => ({ size: current.rungs[current.rung], fallingBehind });

async function startRecording({ mediaStreamId, tabId, apiBaseUrl, clipSeconds, enhancement }) {
  if (session) throw new StartError('capture_failed', 'already recording');
  const api = new SharprApi(apiBaseUrl);
  const capacity = api.capacity();
  capacity.catch(() => {}); // awaited below; unhandled until then
  const first = await waitFor(() => target(tabId), FIRST_REPORT_MS);
  if (first?.video?.protected) throw new StartError('protected_video', 'the video is DRM-protected (EME)');

  const media = await tabMedia(mediaStreamId, first);
  const crop = (frame) => {
    const now = target(tabId);
    return now && toFramePixels(now.rect, now.viewport, frame);
  };
  // A first size for the black check; the capture size is picked once a frame's size is known.
  const capture = new CroppedCapture(media.getVideoTracks()[0], { size: { width: 256, height: 144, fps: captureFps() }, crop });
  try {
    const frame = await Promise.race([capture.firstFrame, sleep(FIRST_FRAME_MS)]);
    if (!frame) throw new StartError('capture_failed', 'the tab sent no picture');
    if (await capture.allBlackFor(BLACK_CHECK_MS)) throw new StartError('protected_video', 'the picture is black');
    const source = crop(frame) ?? { x: 0, y: 0, ...frame };
    const known = await capacity;
    const rungs = captureRungs({
      ladder: known?.ladder,
      maxHeight: Math.min(source.height, target(tabId)?.video?.videoHeight ?? Infinity),
      aspect: source.width / source.height,
      fps: captureFps(),
      maxPixels: known?.clip_max_pixels ?? DEFAULT_MAX_PIXELS,
      maxFps: known?.clip_max_fps,
      tiers: rungTiers(known, enhancement),
    });
    const budgetOf = (tier) => budgetFor(known, enhancement.mode, enhancement.scale, tier);
    const start = startRung(rungs, budgetOf);
    const startBudget = budgetOf(rungs[start].tier);
    capture.resize(rungs[start]);

    const stream = await api.createStream({ ...enhancement, capture: captureOf(rungs[start]) });
    const streamApi = new SharprApi(apiBaseUrl, stream.token);
    // The server's limit wins over the user's choice, so no clip is refused for its length.
    const seconds = Math.min(clipSeconds, Math.floor(stream.limits?.clip_max_seconds ?? clipSeconds));
    const uploader = new ClipUploader(streamApi, stream.id, { onEvent: (event) => tell('clip-event', event) });
    // Capturing a tab mutes it for the user; play the captured audio back out.
    const output = new AudioContext();
    output.createMediaStreamSource(media).connect(output.destination);
    session = {
      media, output, capture, uploader, api: streamApi, streamId: stream.id, clipSeconds: seconds,
      rungs, start, rung: start, lags: [], startedAt: Date.now(), finishing: null,
      clipTiers: new Map(), // seq -> the tier its rung had when it started, until it is queued
    };
    session.recorder = new ClipRecorder(new MediaStream([capture.track, ...media.getAudioTracks()]), {
      clipSeconds: seconds,
      onClip: ({ seq, blob }) => uploader.enqueue(seq, blob, takeClipTier(session, seq)),
      onError: (error) => finish({ code: 'capture_failed', message: error.message }),
      beforeClip: clipStarts,
    });
    // The tab closing or navigating away ends its track: finish as if Stop was pressed.
    media.getVideoTracks()[0].addEventListener('ended', () => finish());
    session.recorder.start();
    if (stopAsked) finish();
    console.info(`sharpr: event=capture_started stream=${stream.id} size=${rungs[start].width}x${rungs[start].height} fps=${rungs[start].fps} tier=${rungs[start].tier} frame=${frame.width}x${frame.height}`);
    return {
      stream: { id: stream.id, token: stream.token, playlistUrl: stream.playlist_url, clipSeconds: seconds },
      startedAt: session.startedAt,
      ...pace(session, startBudget !== null && pixelsPerSecond(rungs[start]) > startBudget),
    };
  } catch (error) {
    media.getTracks().forEach((track) => track.stop());
    await capture.stop();
    throw error;
  }
}

/** Clip `seq` starts: it gets the rung picked last; the clip just ended tells how far behind we are. */
function clipStarts(seq) {
  const current = session;
  const rung = current.rungs[current.rung];
  current.capture.resize(rung);
  current.clipTiers.set(seq, rung.tier);
  if (seq > 0) {
    adapt(current).catch((error) => console.warn(`sharpr: event=adapt_failed stream=${current.streamId} seq=${seq} message=${error.message}`));
  }
}

/** The tier clip `seq` was recorded for: the rung may have changed while it was recorded. */
function takeClipTier(current, seq) {
  const tier = current.clipTiers.get(seq);
  current.clipTiers.delete(seq);
  return tier;
}

async function adapt(current) {
  const { clips } = await current.api.getStream(current.streamId);
  const lag = lagSeconds({ clips, startedAt: current.startedAt, nowMs: Date.now(), clipSeconds: current.clipSeconds });
  current.lags.push(lag);
  const count = current.rungs.length;
  const index = nextRung(current.rung, adaptDecision(current.lags, current.clipSeconds), { start: current.start, count });
  if (index !== current.rung) current.lags = []; // lags at the old size say nothing about the new
  current.rung = index;
  const behind = fallingBehind({ index, count, lag, clipSeconds: current.clipSeconds });
  await tell('capture-pace', { streamId: current.streamId, lag, ...pace(current, behind) });
}

/** Last clip out, every upload settled, then the API is told the stream is complete. */
function finish(error = null) {
  if (!session) return Promise.resolve();
  session.finishing ??= (async () => {
    const { media, output, capture, api, uploader, recorder, streamId } = session;
    await recorder.stop();
    media.getTracks().forEach((track) => track.stop()); // removes the tab's recording badge
    await capture.stop();
    await output.close();
    await uploader.drain();
    let outcome = error;
    try {
      await api.stopStream(streamId);
    } catch (stopError) {
      outcome ??= { code: stopError.code ?? 'stream_failed', message: stopError.message };
    }
    await tell('recording-ended', { error: outcome });
  })();
  return session.finishing;
}

chrome.runtime.onMessage.addListener((message, sender, sendResponse) => {
  if (message.target !== 'offscreen') return false;
  // Geometry comes from the finder inside web pages; the rest only from the service worker.
  const allowed = message.type === 'video-geometry'
    ? fromThisExtension(sender, chrome.runtime.id)
    : fromExtensionPage(sender, chrome.runtime.id, chrome.runtime.getURL(''));
  if (!allowed) {
    console.warn(`sharpr: event=message_refused type=${message.type} from=${sender.url}`);
    return false;
  }
  if (message.type === 'video-geometry') {
    reports.set(`${sender.tab?.id}/${sender.frameId}`, { ...message.data, at: Date.now() });
    sendResponse({ ok: true }); // the finder stops once nobody answers
  } else if (message.type === 'start-recording') {
    startRecording(message.data).then(sendResponse, (error) =>
      sendResponse({ error: { code: error.code ?? 'capture_failed', message: error.message } }));
    return true; // the answer comes asynchronously
  } else if (message.type === 'stop-recording') {
    stopAsked = true;
    finish();
  }
  return false;
});
