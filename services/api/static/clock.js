// One clock for two videos: play, pause and seek on either moves both; small drift
// (decoders run at their own pace) is corrected by moving the follower to the leader: the
// original leads a whole video, the enhanced one a live source (it is the one behind).

const DRIFT_SECONDS = 0.25;
const CHECK_MS = 500;

export function linkClocks(first, second) {
  let leader = first;
  const other = (video) => (video === first ? second : first);
  for (const video of [first, second]) {
    // Each handler acts only when the other video differs, so echoes stop at once.
    video.addEventListener("play", () => { if (other(video).paused) other(video).play().catch(() => {}); });
    video.addEventListener("pause", () => { if (!other(video).paused) other(video).pause(); });
    video.addEventListener("seeking", () => {
      if (Math.abs(other(video).currentTime - video.currentTime) > DRIFT_SECONDS / 2) {
        other(video).currentTime = video.currentTime;
      }
    });
  }
  setInterval(() => {
    const follower = other(leader);
    const ready = follower.readyState >= HTMLMediaElement.HAVE_CURRENT_DATA;
    if (!leader.paused && ready && !follower.seeking
        && Math.abs(follower.currentTime - leader.currentTime) > DRIFT_SECONDS) {
      follower.currentTime = leader.currentTime;
    }
  }, CHECK_MS);
  return { lead: (video) => { leader = video; } };
}

/** Play/pause button, position slider and time readout for the pair. */
export function bindControls(leader, { play, seek, time }) {
  const format = (s) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, "0")}`;
  play.addEventListener("click", () => {
    if (leader.paused) leader.play().catch(() => {}); else leader.pause();
  });
  const showState = () => {
    play.textContent = leader.paused ? "Play" : "Pause";
    play.setAttribute("aria-pressed", String(!leader.paused));
  };
  leader.addEventListener("play", showState);
  leader.addEventListener("pause", showState);
  leader.addEventListener("durationchange", () => { seek.max = String(leader.duration || 0); });
  leader.addEventListener("timeupdate", () => {
    if (document.activeElement !== seek) seek.value = String(leader.currentTime);
    time.value = format(leader.currentTime);
  });
  seek.addEventListener("input", () => { leader.currentTime = Number(seek.value); });
}
