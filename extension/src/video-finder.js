// Injected at click time (chrome.scripting, under activeTab) into every frame of the tab the
// extension may read. It reports the raw facts of each <video> in its frame -- content box in
// the top viewport's CSS px, intrinsic size, object-fit, playing, DRM -- and reports again
// when they change (resize, scroll, fullscreen, a new video, play/pause). The choice and the
// geometry happen in the offscreen recorder (lib/video-geometry.js): content scripts cannot
// import modules, and this one should stay small.
//
// Message: {type: 'video-geometry', target: 'offscreen', data: {top, viewport, dpr, clips, videos}}.
// A frame learns where it sits in the top viewport from its parent's copy of this script
// (postMessage); it reports nothing until it knows. Re-injecting restarts a stopped finder.

(() => {
  if (globalThis.sharprVideoFinder) {
    globalThis.sharprVideoFinder.start();
    return;
  }
  const OFFSET = 'sharpr-frame-offset';
  const ASK = 'sharpr-frame-offset-please';
  const MEDIA_EVENTS = ['play', 'playing', 'pause', 'ended', 'emptied', 'loadedmetadata', 'resize'];
  const isTop = window === window.top;
  // Top-viewport position of this frame's viewport, and the boxes of the frames around it.
  let place = isTop ? { x: 0, y: 0, clips: [] } : null;
  let watching = false;
  let timer = 0;
  let heartbeat = 0;
  const resizes = new ResizeObserver(() => schedule());
  const mutations = new MutationObserver(() => schedule());

  function contentBox(element) {
    const rect = element.getBoundingClientRect();
    const style = getComputedStyle(element);
    const px = (name) => parseFloat(style[name]) || 0;
    const left = px('borderLeftWidth') + px('paddingLeft');
    const top = px('borderTopWidth') + px('paddingTop');
    return {
      x: place.x + rect.left + left,
      y: place.y + rect.top + top,
      width: rect.width - left - px('borderRightWidth') - px('paddingRight'),
      height: rect.height - top - px('borderBottomWidth') - px('paddingBottom'),
    };
  }

  function describe(video) {
    resizes.observe(video);
    return {
      box: contentBox(video),
      videoWidth: video.videoWidth,
      videoHeight: video.videoHeight,
      objectFit: getComputedStyle(video).objectFit,
      playing: !video.paused && !video.ended && video.readyState >= 2,
      protected: video.mediaKeys != null, // EME in use: the capture of it is black
    };
  }

  function report() {
    timer = 0;
    if (!watching || !place) return;
    const viewport = { width: innerWidth, height: innerHeight };
    const clips = isTop ? [] : [...place.clips, { x: place.x, y: place.y, ...viewport }];
    for (const frame of document.querySelectorAll('iframe, frame')) {
      const box = contentBox(frame);
      frame.contentWindow?.postMessage({ [OFFSET]: { x: box.x, y: box.y, clips } }, '*');
    }
    const data = { top: isTop, viewport, dpr: devicePixelRatio, clips, videos: [...document.querySelectorAll('video')].map(describe) };
    // No answer means no recorder any more: stop watching this page.
    chrome.runtime.sendMessage({ type: 'video-geometry', target: 'offscreen', data }).catch(stop);
  }

  function schedule() {
    if (watching && !timer) timer = setTimeout(report, 100);
  }

  function onMessage(event) {
    if (event.data?.[ASK] && [...document.querySelectorAll('iframe, frame')].some((frame) => frame.contentWindow === event.source)) schedule();
    if (event.data?.[OFFSET] && event.source === window.parent && !isTop) {
      place = event.data[OFFSET];
      schedule();
    }
  }

  function start() {
    if (watching) return;
    watching = true;
    addEventListener('message', onMessage);
    addEventListener('resize', schedule);
    document.addEventListener('scroll', schedule, { capture: true, passive: true });
    document.addEventListener('fullscreenchange', schedule);
    for (const type of MEDIA_EVENTS) document.addEventListener(type, schedule, true);
    mutations.observe(document, { childList: true, subtree: true });
    heartbeat = setInterval(schedule, 1000); // moves no event tells of (animations, layout)
    if (!isTop) window.parent.postMessage({ [ASK]: true }, '*');
    schedule();
  }

  function stop() {
    watching = false;
    clearTimeout(timer);
    clearInterval(heartbeat);
    timer = 0;
    removeEventListener('message', onMessage);
    removeEventListener('resize', schedule);
    document.removeEventListener('scroll', schedule, { capture: true });
    document.removeEventListener('fullscreenchange', schedule);
    for (const type of MEDIA_EVENTS) document.removeEventListener(type, schedule, true);
    mutations.disconnect();
    resizes.disconnect();
  }

  globalThis.sharprVideoFinder = { start };
  start();
})();
