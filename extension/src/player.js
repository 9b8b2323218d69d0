// The player tab: plays the stream's enhanced HLS playlist with the bundled hls.js, follows
// new clips without a reload, shows each clip's progress from the API's server-sent events
// (or, when the API refuses one more event stream, from polling the stream's status),
// the delay behind live, the model the newest enhanced clip ran at, the capture size and
// whether the server keeps up, and a Stop button. It opens as player.html?stream=<id>.

import Hls from './vendor/hls.mjs';
import { SharprApi } from './lib/api-client.js';
import { decideRecovery } from './lib/error-recovery.js';
import { delayBehindLive, formatDelay } from './lib/live-delay.js';
import { onCaptureChanged, readCapture, readStream, streamKey } from './lib/session-store.js';
import { pollStatus } from './lib/status-poll.js';
import { describeCapture, describeError, describePace, describeTier } from './lib/status-text.js';

const $ = (id) => document.getElementById(id);
const video = $('video');
const streamId = new URLSearchParams(location.search).get('stream');
const clipRows = new Map();

function showError(error) {
  $('error').hidden = !error;
  $('error').textContent = describeError(error);
}

function renderClip(clip) {
  let row = clipRows.get(clip.seq);
  if (!row) {
    row = document.createElement('li');
    row.dataset.seq = clip.seq;
    clipRows.set(clip.seq, row);
    const after = [...clipRows.keys()].filter((seq) => seq > clip.seq).sort((a, b) => a - b)[0];
    $('clips').insertBefore(row, after === undefined ? null : clipRows.get(after));
  }
  const progress = clip.frames_total ? ` ${Math.round((100 * clip.frames_done) / clip.frames_total)}%` : '';
  const note = clip.state === 'failed' || clip.degraded ? ' (shown unenhanced)' : '';
  const model = clip.state === 'packaged' && clip.tier ? ` \u00b7 ${describeTier(clip.tier)}` : '';
  row.dataset.state = clip.state;
  row.textContent = `Clip ${clip.seq + 1}: ${clip.upload === 'failed' ? 'upload failed' : clip.state}${progress}${note}${model}`;
}

const isShown = (clip) => clip.state === 'packaged' || clip.state === 'failed';

/** hls.js with the live edge about one clip back, and fatal errors recovered by kind. */
function play(playlistUrl, clipSeconds) {
  if (!Hls.isSupported()) {
    showError({ code: 'unsupported', message: 'this browser cannot play HLS' });
    return;
  }
  const hls = new Hls({
    workerPath: 'vendor/hls.worker.js', // a blob: worker is not allowed by the extension CSP
    liveSyncDuration: clipSeconds,
    liveMaxLatencyDuration: clipSeconds * 3,
  });
  let recoveries = [];
  hls.on(Hls.Events.ERROR, (_event, data) => {
    if (!data.fatal) return;
    const decision = decideRecovery(data.type, recoveries, Date.now());
    recoveries = decision.recent;
    if (decision.action === 'startLoad') hls.startLoad();
    else if (decision.action === 'recoverMediaError') hls.recoverMediaError();
    else {
      showError({ code: 'playback_failed', message: `${data.type}: ${data.details}` });
      hls.destroy();
    }
  });
  hls.loadSource(playlistUrl);
  hls.attachMedia(video);
  window.sharprHls = hls; // for the browser tests and for debugging from DevTools
  return hls;
}

/** Every clip report, from the events or from polling, goes to `onClip`. */
function follow(stream, onClip) {
  const api = new SharprApi(stream.apiBaseUrl, stream.token);
  const onState = (state) => {
    if (state === 'failed') showError({ code: 'stream_failed', message: 'stream failed' });
  };
  const events = new EventSource(api.eventsUrl(stream.id));
  events.addEventListener('clip', (event) => onClip(JSON.parse(event.data)));
  events.addEventListener('stream', (event) => {
    const { state } = JSON.parse(event.data);
    if (state === 'ended' || state === 'failed') events.close();
    onState(state);
  });
  // EventSource gives up for good (CLOSED) only on a refusal, e.g. 429 when this token
  // already holds too many event streams: then poll the status instead.
  events.addEventListener('error', () => {
    if (events.readyState === EventSource.CLOSED) pollStatus(() => api.getStream(stream.id), { onClip, onState });
  });
  return api;
}

async function main() {
  const stream = streamId && (await readStream(streamId));
  if (!stream) {
    $('state').textContent = 'This stream is not known any more. Start a new one from the SharprAI icon.';
    return;
  }
  let hls = null;
  let capture = null; // the capture record, for a stream recorded from a tab
  let newestPackaged = null; // its model is the one the viewer sees
  const renderPace = () => {
    if (capture) $('pace').textContent = describePace(capture, newestPackaged ? newestPackaged.tier : undefined);
  };
  // The playlist starts once the first clip is playable (before that it 404s).
  const onClip = (clip) => {
    renderClip(clip);
    if (isShown(clip)) hls ??= play(stream.playlistUrl, stream.clipSeconds);
    if (clip.state === 'packaged' && clip.seq >= (newestPackaged?.seq ?? -1)) {
      newestPackaged = clip;
      renderPace();
    }
  };
  const api = follow(stream, onClip);
  try {
    (await api.getStream(stream.id)).clips.forEach(onClip);
  } catch (error) {
    showError(error);
  }

  if (stream.kind === 'capture') {
    const renderCapture = (record) => {
      if (record.streamId !== stream.id) return;
      capture = record;
      $('state').textContent = describeCapture(capture);
      renderPace();
      $('stop').hidden = capture.state !== 'recording';
      if (capture.error) showError(capture.error);
      for (const [seq, clip] of Object.entries(capture.clips)) {
        if (clip.upload === 'failed') renderClip({ seq: Number(seq), upload: 'failed', state: 'failed' });
      }
    };
    renderCapture(await readCapture());
    onCaptureChanged(renderCapture);
    $('stop').addEventListener('click', () => chrome.runtime.sendMessage({ type: 'stop-capture', target: 'service-worker' }));
  }

  // The capture start arrives a moment after the player opens; keep the stored record fresh.
  let captureStartedAt = stream.captureStartedAt;
  chrome.storage.onChanged.addListener((changes, area) => {
    const change = area === 'session' && changes[streamKey(stream.id)];
    if (change?.newValue) captureStartedAt = change.newValue.captureStartedAt;
  });
  setInterval(() => {
    const seconds = video.currentTime > 0
      ? delayBehindLive({ captureStartedAt, currentTime: video.currentTime, nowMs: Date.now(), liveEdgeLatency: hls?.latency })
      : null;
    $('delay').textContent = formatDelay(seconds);
  }, 1000);
}

video.addEventListener('ended', () => { $('state').textContent = 'The end of the stream.'; });
main();
