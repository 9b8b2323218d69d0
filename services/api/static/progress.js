// Per-clip progress from the stream's server-sent events, and the stream's end.
import { openEvents } from "./api.js";

const WORDS = {
  queued: "waiting", upscaling: "enhancing", encoded: "encoded", packaged: "ready",
  failed: "failed (shown unenhanced)", uploaded: "received",
};

export function followProgress(stream, { list, state }, onStreamState) {
  const events = openEvents(stream);
  const items = new Map();
  events.addEventListener("clip", (event) => {
    const clip = JSON.parse(event.data);
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
    item.querySelector("span").textContent = `Clip ${clip.seq + 1}: ${WORDS[clip.state] || clip.state}`;
    item.dataset.state = clip.state;
  });
  events.addEventListener("stream", (event) => {
    const data = JSON.parse(event.data);
    state.textContent = {
      live: "Enhancing…", ending: "Finishing…", ended: "Done.", failed: "Failed.", expired: "Expired.",
    }[data.state] || data.state;
    if (["ended", "failed", "expired"].includes(data.state)) events.close();
    onStreamState(data.state);
  });
  return events;
}
