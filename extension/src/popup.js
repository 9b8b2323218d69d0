// The popup: one click on the icon starts enhancing the tab (unless the last attempt failed,
// when it shows why and offers to try again), and it shows the state in plain words.

import { onCaptureChanged, readCapture } from './lib/session-store.js';
import { describeCapture, describeError, describePace } from './lib/status-text.js';

const ACTIVE = new Set(['starting', 'recording', 'stopping']);
const $ = (id) => document.getElementById(id);

const ask = (type, data) => chrome.runtime.sendMessage({ type, target: 'service-worker', data });

function render(capture) {
  $('state').textContent = describeCapture(capture);
  $('pace').textContent = ACTIVE.has(capture.state) ? describePace(capture) : '';
  $('error').hidden = !capture.error;
  $('error').textContent = describeError(capture.error);
  $('start').hidden = ACTIVE.has(capture.state);
  $('start').textContent = capture.state === 'failed' ? 'Try again' : 'Enhance this tab';
  $('stop').hidden = capture.state !== 'recording';
  $('player').hidden = !capture.streamId;
}

async function start() {
  const [tab] = await chrome.tabs.query({ active: true, currentWindow: true });
  render({ ...(await readCapture()), state: 'starting', error: null });
  render(await ask('start-capture', { tabId: tab.id, url: tab.url }));
}

$('start').addEventListener('click', start);
$('stop').addEventListener('click', async () => render(await ask('stop-capture')));
$('player').addEventListener('click', async () => {
  const { streamId } = await readCapture();
  chrome.tabs.create({ url: chrome.runtime.getURL(`player.html?stream=${encodeURIComponent(streamId)}`) });
});
onCaptureChanged(render);

const capture = await readCapture();
render(capture);
// One click: opening the popup is the request, unless it would hide the last failure.
if (!ACTIVE.has(capture.state) && capture.state !== 'failed') start();
