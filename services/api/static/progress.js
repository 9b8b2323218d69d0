// Per-clip progress from the stream's server-sent events (or, when the API refuses one
// more event stream, from polling its status), the model each clip ran at, and the stream's end.
import { getStatus, openEvents } from "./api.js";

export const FINAL = ["ended", "failed", "expired"];
export const POLL_MS = 2000;

const WORDS = {
  queued: "waiting", upscaling: "enhancing", encoded: "encoded", packaged: "ready",
  failed: "failed (shown unenhanced)",
};
const TIER_WORDS = { quality: "Quality model", balanced: "Balanced model", fast: "Fast model" };

/** The model a clip ran at, once encoded (its `tier` is only asked for before): null stands for
 * the plain resize; "" before then, or from a server that does not say. */
export function ranWith(clip) {
  if (!["encoded", "packaged"].includes(clip.state) || clip.tier === undefined) return "";
  return clip.tier === null ? "Plain resize" : TIER_WORDS[clip.tier] ?? `${clip.tier} model`;
}

export function followProgress(stream, { list, state }, onStreamState) {
  const items = new Map();
  const onClip = (clip) => {
    let item = items.get(clip.seq);
    if (!item) {
      item = document.createElement("li");
      item.innerHTML = `<span></span> <progress max="1" value="0"></progress>`;
      items.set(clip.seq, item);
      const after = [...items.keys()].filter((s) => s > clip.seq).sort((a, b) => a - b)[0];
      list.insertBefore(item, after === undefined ? null : items.get(after));
    }
    const fraction = clip.state === "packaged" ? 1 : clip.frames_total ? clip.frames_done / clip.frames_total : 0;
    const bar = item.querySelector("progress");
    bar.value = fraction;
    bar.setAttribute("aria-label", `Clip ${clip.seq + 1}`);
    const model = ranWith(clip);
    item.querySelector("span").textContent = `Clip ${clip.seq + 1}: ${WORDS[clip.state] || clip.state}${model && ` · ${model}`}`;
    item.dataset.state = clip.state;
  };
  const onState = (current) => {
    state.textContent = {
      live: "Enhancing…", ending: "Finishing…", ended: "Done.", failed: "Failed.", expired: "Expired.",
    }[current] || current;
    onStreamState(current);
  };
  const events = openEvents(stream);
  events.addEventListener("clip", (event) => onClip(JSON.parse(event.data)));
  events.addEventListener("stream", (event) => {
    const data = JSON.parse(event.data);
    if (FINAL.includes(data.state)) events.close();
    onState(data.state);
  });
  // EventSource gives up for good (CLOSED) only on a refusal, e.g. 429 when this address
  // already holds too many event streams: then poll the status instead.
  events.addEventListener("error", () => {
    if (events.readyState === EventSource.CLOSED) pollStatus(stream, onClip, onState);
  });
  return events;
}

/** The event stream's reports, from `GET /v1/streams/{id}` every POLL_MS. */
async function pollStatus(stream, onClip, onState) {
  const seen = new Map();
  let current = null;
  while (!FINAL.includes(current)) {
    try {
      const status = await getStatus(stream);
      for (const clip of status.clips.filter((c) => seen.get(c.seq) !== c.updated_at)) {
        seen.set(clip.seq, clip.updated_at);
        onClip(clip);
      }
      if (status.state !== current) onState((current = status.state));
    } catch (error) {
      if (error.code === "stream_not_found") onState((current = "expired"));
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
