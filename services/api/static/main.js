// The hub page: start a video from the form, then show both players on one clock with
// progress and, at the end, the download link.
import { downloadUrl, startFromFile, startFromUrl } from "./api.js";
import { bindControls, linkClocks } from "./clock.js";
import { followLive } from "./live.js";
import { attach } from "./players.js";
import { followProgress } from "./progress.js";
import { bindWipe } from "./wipe.js";

const $ = (id) => document.getElementById(id);

function enhancement(form) {
  return {
    mode: form.mode.value,
    tier: form.tier.value,
    scale: Number(form.scale.value),
    dim_lift: form.dim_lift.checked,
    color_vision: form.color_vision.value,
  };
}

async function start(event) {
  event.preventDefault();
  const form = event.target;
  const file = form.file.files[0];
  const url = form.url.value.trim();
  const message = $("message");
  if (!file && !url) {
    message.textContent = "Give a video link or choose a file.";
    return;
  }
  $("go").disabled = true;
  message.textContent = file ? "Uploading…" : "Fetching the video…";
  try {
    let stream;
    if (file) {
      for (const el of [$("upload"), document.querySelector(".progress-label")]) el.hidden = false;
      stream = await startFromFile(file, enhancement(form), (p) => { $("upload").value = p; });
    } else {
      stream = await startFromUrl(url, enhancement(form));
    }
    message.textContent = "";
    show(stream);
  } catch (error) {
    message.textContent = `${error.message}${error.code ? ` (${error.code})` : ""}`;
    $("go").disabled = false;
  }
}

function show(stream) {
  $("view").hidden = false;
  const original = $("original");
  const enhanced = $("enhanced");
  attach(original, stream.original_playlist_url);
  attach(enhanced, stream.playlist_url);
  const clocks = linkClocks(original, enhanced);
  followLive(stream, { line: $("live"), stop: $("stop") }, () => clocks.lead(enhanced));
  bindControls(original, { play: $("play"), seek: $("seek"), time: $("time") });
  bindWipe($("stage"), $("wipe"));
  $("sound").addEventListener("change", (e) => { enhanced.muted = !e.target.checked; });
  for (const radio of document.querySelectorAll('input[name="layout"]')) {
    radio.addEventListener("change", () => {
      $("stage").className = radio.value;
      $("wipe-controls").hidden = radio.value !== "wipe";
    });
  }
  followProgress(stream, { list: $("clips"), state: $("state") }, (state) => {
    if (state === "failed") showError(stream);
    if (state === "ended") showDownload(stream);
  });
}

/** The download link, signed for a few minutes; a click after that gets a fresh one. */
async function showDownload(stream) {
  const link = $("download");
  link.href = await downloadUrl(stream);
  link.hidden = false;
  link.addEventListener("click", async (event) => {
    event.preventDefault();
    window.location.assign(await downloadUrl(stream));
  });
}

async function showError(stream) {
  const response = await fetch(`/v1/streams/${stream.id}`, { headers: { Authorization: `Bearer ${stream.token}` } });
  const status = await response.json().catch(() => ({}));
  if (status.error) $("state").textContent = `Failed: ${status.error}`;
}

$("start").addEventListener("submit", start);
