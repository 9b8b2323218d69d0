// A live source's side of the page: the "Live" line with the delay behind the source and
// the model the newest enhanced clip ran at, read from the stream's status while it is
// followed, and the button that stops following.
import { getStatus, stopStream } from "./api.js";
import { FINAL, POLL_MS, ranWith } from "./progress.js";

export async function followLive(stream, { line, stop }, onLive) {
  let live = false;
  let model = ""; // the newest clip still being enhanced has not run yet: keep the last one's
  stop.addEventListener("click", async () => {
    stop.disabled = true;
    await stopStream(stream).catch(() => { stop.disabled = false; });
  });
  for (let first = true; ; first = false) {
    if (!first) await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    let status;
    try {
      status = await getStatus(stream, 1); // the live block; one clip tells a whole video apart
    } catch (error) {
      if (error.code === "stream_not_found") return; // expired or deleted: the progress line says so
      continue; // busy (429, 503): ask again
    }
    if (status.live && !live) {
      live = true;
      onLive();
    }
    if (status.live) {
      model = (status.clips.length > 0 && ranWith(status.clips.at(-1))) || model;
      line.hidden = false;
      line.textContent = describe(status, model);
      stop.hidden = !status.live.following || FINAL.includes(status.state);
    }
    // A whole video registers its clips without ever following: nothing to show.
    if (FINAL.includes(status.state) || (!status.live && status.clips.length > 0)) return;
  }
}

function describe(status, model) {
  const { live } = status;
  const parts = [];
  if (live.following) {
    parts.push("Live");
    parts.push(live.delay_seconds == null ? "waiting for the first enhanced clip"
      : `${Math.round(live.delay_seconds)} s behind the source`);
  } else {
    parts.push(status.error ? `Live source ended early (${status.error})` : "The live source has ended");
  }
  if (live.skipped_seconds > 0) parts.push(`${Math.round(live.skipped_seconds)} s skipped to keep up`);
  if (live.segments_missing > 0) parts.push(`${live.segments_missing} source segments missing`);
  if (model) parts.push(model);
  return parts.join(" · ");
}
