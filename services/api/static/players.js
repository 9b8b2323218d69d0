// Attaches an HLS playlist to a <video> with hls.js (or natively, in Safari), waiting for
// playlists that do not exist yet: the original appears once the video is fetched, the
// enhanced one once its first clip is done.
import Hls from "./vendor/hls.min.mjs";

const RETRY_MS = 2000;
const MEDIA_RECOVERIES = 3;

export function attach(video, url) {
  if (!Hls.isSupported()) {
    video.src = url; // Safari plays HLS itself
    return;
  }
  // startPosition 0: the enhanced playlist is an EVENT playlist while clips arrive, and
  // hls.js would otherwise start near its live edge, not where the original starts.
  const hls = new Hls({ startPosition: 0 });
  let recoveries = 0;
  hls.on(Hls.Events.ERROR, (_event, data) => {
    if (!data.fatal) return;
    if (data.type === Hls.ErrorTypes.NETWORK_ERROR) {
      // A playlist not written yet answers 403/404: ask again shortly.
      setTimeout(() => {
        if (data.details === Hls.ErrorDetails.MANIFEST_LOAD_ERROR) hls.loadSource(url);
        else hls.startLoad();
      }, RETRY_MS);
    } else if (data.type === Hls.ErrorTypes.MEDIA_ERROR && recoveries < MEDIA_RECOVERIES) {
      recoveries += 1;
      hls.recoverMediaError();
    } else {
      hls.destroy();
    }
  });
  hls.loadSource(url);
  hls.attachMedia(video);
  return hls;
}
