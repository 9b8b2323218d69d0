// Which path a tab takes: YouTube pages are ingested server-side from their URL, ordinary
// pages are captured, and pages Chrome forbids capturing get a plain-words reason.

const YOUTUBE_HOSTS = new Set(['youtube.com', 'www.youtube.com', 'm.youtube.com', 'music.youtube.com']);
const UNCAPTURABLE = ['chrome:', 'chrome-extension:', 'edge:', 'about:', 'devtools:', 'view-source:'];

/** `{kind: 'youtube', url}` | `{kind: 'capture'}` | `{kind: 'unsupported', reason}`. */
export function classifyUrl(rawUrl) {
  let url;
  try {
    url = new URL(rawUrl);
  } catch {
    return { kind: 'capture' }; // no URL visible (no permission yet): capture still works
  }
  if (UNCAPTURABLE.includes(url.protocol) || url.hostname === 'chromewebstore.google.com') {
    return { kind: 'unsupported', reason: 'Chrome does not allow recording this page.' };
  }
  if (YOUTUBE_HOSTS.has(url.hostname) && url.pathname === '/watch' && url.searchParams.get('v')) {
    return { kind: 'youtube', url: `https://www.youtube.com/watch?v=${url.searchParams.get('v')}` };
  }
  if (url.hostname === 'youtu.be' && url.pathname.length > 1) {
    return { kind: 'youtube', url: `https://www.youtube.com/watch?v=${url.pathname.slice(1)}` };
  }
  return { kind: 'capture' };
}
