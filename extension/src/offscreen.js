// The offscreen document: turns the tab's media stream id into a MediaStream, lets the user
// keep hearing the tab, records it in clips and uploads them. Offscreen documents may only
// use chrome.runtime, so every state change is a message to the service worker, which stores it.

import { SharprApi } from './lib/api-client.js';
import { ClipRecorder } from './lib/recorder.js';
import { ClipUploader } from './lib/uploader.js';

// One recording per document; the service worker closes the document when it ends.
let session = null;

const tell = (type, data) => chrome.runtime.sendMessage({ type, target: 'service-worker', data });

async function startRecording({ mediaStreamId, streamId, token, apiBaseUrl, clipSeconds }) {
  if (session) return;
  const tab = { mandatory: { chromeMediaSource: 'tab', chromeMediaSourceId: mediaStreamId } };
  let media;
  try {
    media = await navigator.mediaDevices.getUserMedia({ audio: tab, video: tab });
  } catch (error) {
    await tell('recording-ended', { error: { code: 'capture_failed', message: error.message } });
    return;
  }
  // Capturing a tab mutes it for the user; play the captured audio back out.
  const output = new AudioContext();
  output.createMediaStreamSource(media).connect(output.destination);

  const api = new SharprApi(apiBaseUrl, token);
  const uploader = new ClipUploader(api, streamId, { onEvent: (event) => tell('clip-event', event) });
  const recorder = new ClipRecorder(media, {
    clipSeconds,
    onClip: ({ seq, blob }) => uploader.enqueue(seq, blob),
    onError: (error) => finish({ code: 'capture_failed', message: error.message }),
  });
  session = { media, output, api, uploader, recorder, streamId, finishing: null };
  // The tab closing or navigating away ends its track: finish as if Stop was pressed.
  media.getVideoTracks()[0]?.addEventListener('ended', () => finish());
  recorder.start();
  await tell('recording-started', { streamId, startedAt: Date.now() });
}

/** Last clip out, every upload settled, then the API is told the stream is complete. */
function finish(error = null) {
  if (!session) return Promise.resolve();
  session.finishing ??= (async () => {
    const { media, output, api, uploader, recorder, streamId } = session;
    await recorder.stop();
    media.getTracks().forEach((track) => track.stop()); // removes the tab's recording badge
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

chrome.runtime.onMessage.addListener((message) => {
  if (message.target !== 'offscreen') return false;
  if (message.type === 'start-recording') startRecording(message.data);
  else if (message.type === 'stop-recording') finish();
  return false;
});
