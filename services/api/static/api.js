// Calls to the SharprAI API that start a video: from a link, or from a file uploaded
// straight to object storage with a presigned POST (the API never sees the bytes).

async function call(path, { method = "POST", body, token } = {}) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(path, { method, headers, body: body && JSON.stringify(body) });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = data.error || { code: "http_error", message: `HTTP ${response.status}` };
    throw Object.assign(new Error(error.message), { code: error.code });
  }
  return data;
}

/** A stream for the video at `url`: {id, token, playlist_url, original_playlist_url}. */
export function startFromUrl(url, enhancement) {
  return call("/v1/videos", { body: { url, ...enhancement } });
}

/** Upload `file` with progress (0..1) reports, then start its ingest; same result. */
export async function startFromFile(file, enhancement, onProgress) {
  const grant = await call("/v1/videos/uploads", { body: enhancement });
  await postToStorage(grant, file, onProgress);
  await call(`/v1/videos/${grant.id}/ingest`, { token: grant.token });
  return grant;
}

function postToStorage(grant, file, onProgress) {
  // XMLHttpRequest, not fetch: only it reports upload progress.
  const form = new FormData();
  for (const [name, value] of Object.entries(grant.fields)) form.append(name, value);
  form.append("file", file);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", grant.url);
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve();
      else reject(Object.assign(new Error(`storage refused the upload (HTTP ${xhr.status})`), { code: "upload_failed" }));
    });
    xhr.addEventListener("error", () => reject(Object.assign(new Error("the upload was interrupted"), { code: "upload_failed" })));
    xhr.send(form);
  });
}

/** A short-lived signed link to the whole enhanced MP4 (the token stays out of the URL). */
export async function downloadUrl(stream) {
  const link = await call(`/v1/streams/${stream.id}/download-link`, { method: "GET", token: stream.token });
  return link.url;
}

/** The stream's status: its state and every clip's (or only the `newest` ones), as the
 * events report them. */
export function getStatus(stream, newest) {
  const query = newest === undefined ? "" : `?newest_clips=${newest}`;
  return call(`/v1/streams/${stream.id}${query}`, { method: "GET", token: stream.token });
}

/** Server-sent progress events of the stream. */
export function openEvents(stream) {
  return new EventSource(`/v1/streams/${stream.id}/events?token=${encodeURIComponent(stream.token)}`);
}

/** Stop the stream: a live source is no longer followed, the playlists end. */
export function stopStream(stream) {
  return call(`/v1/streams/${stream.id}/stop`, { token: stream.token });
}
