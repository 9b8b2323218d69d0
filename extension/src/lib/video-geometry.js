// Where the picture the user watches sits in the captured tab frame. The content script
// (video-finder.js) reports raw facts per frame (each <video>'s content box in top-viewport
// CSS px, its intrinsic size and object-fit, the boxes of the frames around it that clip
// it); everything computed from them is
// here, pure, so it is tested without a browser.
//
// Rects are {x, y, width, height}.

const area = (rect) => (rect ? rect.width * rect.height : 0);

/** The overlap of two rects, or null when they do not overlap. */
export function intersect(a, b) {
  const x = Math.max(a.x, b.x);
  const y = Math.max(a.y, b.y);
  const width = Math.min(a.x + a.width, b.x + b.width) - x;
  const height = Math.min(a.y + a.height, b.y + b.height) - y;
  return width > 0 && height > 0 ? { x, y, width, height } : null;
}

/** The picture `{width, height}` centred in `box` at `scale` (object-position's default). */
function centred(box, { width, height }, scale) {
  const w = width * scale;
  const h = height * scale;
  return { x: box.x + (box.width - w) / 2, y: box.y + (box.height - h) / 2, width: w, height: h };
}

/**
 * The part of the element's content `box` the picture covers, given the video's intrinsic
 * size and CSS object-fit: `contain` letterboxes, `cover` and `none` overflow and are clipped
 * by the box, `fill` stretches. Unknown intrinsic size (no metadata yet): the whole box.
 */
export function pictureRect(box, intrinsic, objectFit = 'contain') {
  if (!intrinsic?.width || !intrinsic?.height || objectFit === 'fill') return box;
  const contain = Math.min(box.width / intrinsic.width, box.height / intrinsic.height);
  const scale = {
    contain,
    cover: Math.max(box.width / intrinsic.width, box.height / intrinsic.height),
    none: 1,
    'scale-down': Math.min(1, contain),
  }[objectFit] ?? contain;
  return intersect(centred(box, intrinsic, scale), box);
}

/**
 * The video to capture from every frame's report: the largest visible playing one, else the
 * largest visible one with a picture, else null (capture the viewport). Each video comes back
 * with its visible picture rect in top-viewport CSS px and its frame's report.
 */
export function pickVideo(frames) {
  const viewport = frames.find((frame) => frame.top)?.viewport;
  if (!viewport) return null;
  const screen = { x: 0, y: 0, ...viewport };
  const candidates = frames.flatMap((frame) => frame.videos.map((video) => {
    const picture = pictureRect(video.box, { width: video.videoWidth, height: video.videoHeight }, video.objectFit);
    const visible = [...(frame.clips ?? []), screen].reduce((rect, clip) => rect && intersect(rect, clip), picture);
    return { ...video, visible };
  })).filter((video) => video.visible && video.videoWidth > 0);
  const largest = (list) => list.reduce((best, video) => (area(video.visible) > area(best?.visible) ? video : best), null);
  return largest(candidates.filter((video) => video.playing)) ?? largest(candidates);
}

/**
 * A rect in top-viewport CSS px -> whole device pixels of a captured tab frame. The frame can
 * be smaller or larger than viewport x devicePixelRatio (capture limits, zoom), so the scale
 * is the frame's over the viewport's, per axis.
 */
export function toFramePixels(rect, viewport, frame) {
  const sx = frame.width / viewport.width;
  const sy = frame.height / viewport.height;
  const x = Math.max(0, Math.round(rect.x * sx));
  const y = Math.max(0, Math.round(rect.y * sy));
  return {
    x,
    y,
    width: Math.max(1, Math.min(frame.width, Math.round((rect.x + rect.width) * sx)) - x),
    height: Math.max(1, Math.min(frame.height, Math.round((rect.y + rect.height) * sy)) - y),
  };
}

/** Where `source` goes inside a `target` {width, height} keeping its aspect (black bars around). */
export function fitInside(source, target) {
  const scale = Math.min(target.width / source.width, target.height / source.height);
  const width = Math.round(source.width * scale);
  const height = Math.round(source.height * scale);
  return { x: Math.floor((target.width - width) / 2), y: Math.floor((target.height - height) / 2), width, height };
}
