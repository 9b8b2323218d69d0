// The options page: reads and writes the user's choices in chrome.storage.sync, and asks for
// access to a server that is not on this machine (only local servers are granted up front).

import { apiBaseUrlProblem, normalizeOptions } from './lib/options.js';
import { readOptions } from './lib/session-store.js';

const form = document.getElementById('options');
const saved = document.getElementById('saved');

function fill(options) {
  for (const [name, value] of Object.entries(options)) {
    const field = form.elements[name];
    if (field.type === 'checkbox') field.checked = value;
    else field.value = value;
  }
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const data = new FormData(form);
  const problem = apiBaseUrlProblem(data.get('apiBaseUrl'));
  if (problem) {
    saved.textContent = `Not saved. ${problem}`;
    return;
  }
  const options = normalizeOptions({ ...Object.fromEntries(data), dimLift: data.has('dimLift') });
  const origin = `${new URL(options.apiBaseUrl).origin}/*`;
  // Called from the click, so Chrome can show its permission prompt; CORS still works if refused.
  const granted = await chrome.permissions.request({ origins: [origin] }).catch(() => false);
  await chrome.storage.sync.set(options);
  fill(options);
  saved.textContent = granted ? 'Saved.' : 'Saved. (Access to the server was not granted; it must allow this extension by CORS.)';
});

fill(await readOptions());
