// The user's choices (options page) and their defaults, kept in chrome.storage.sync.
// `normalizeOptions` is the one place that turns stored values into ones the API accepts.

import { TIERS } from './capture-size.js';
import { CLIP_SECONDS, normalizeClipSeconds } from './clip-schedule.js';

export const COLOR_VISION = ['none', 'protanopia', 'deuteranopia', 'tritanopia'];
export const MODES = ['anime', 'live_action', 'auto'];
export const TIER_SETTINGS = ['auto', ...TIERS]; // auto: the capture picks per clip from the fleet's capacity

export const DEFAULT_OPTIONS = Object.freeze({
  apiBaseUrl: 'http://127.0.0.1:8000',
  mode: 'anime',
  tier: 'auto',
  clipSeconds: CLIP_SECONDS.default,
  dimLift: false,
  colorVision: 'none',
  colorVisionStrength: 1.0,
});

const isLoopback = (hostname) => hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname);

/**
 * Why `raw` cannot be the API's address, or null if it can: https anywhere, plain http only
 * to this machine, since the stream token and every recorded clip travel to it.
 */
export function apiBaseUrlProblem(raw) {
  let url;
  try {
    url = new URL(raw);
  } catch {
    return 'The server address is not a URL (for example https://sharpr.example.com).';
  }
  if (url.protocol === 'https:' || (url.protocol === 'http:' && isLoopback(url.hostname))) return null;
  if (url.protocol === 'http:') return 'A server on another machine must be reached over https: plain http would send your recordings and token in the clear.';
  return 'The server address must start with https:// (or http:// for this machine).';
}

/** Stored (possibly stale or partial) options -> complete, valid options. */
export function normalizeOptions(stored = {}) {
  const merged = { ...DEFAULT_OPTIONS, ...stored };
  let apiBaseUrl = DEFAULT_OPTIONS.apiBaseUrl;
  if (apiBaseUrlProblem(merged.apiBaseUrl) === null) {
    const url = new URL(merged.apiBaseUrl);
    apiBaseUrl = url.origin + url.pathname.replace(/\/+$/, '');
  }
  const strength = Number(merged.colorVisionStrength);
  return {
    apiBaseUrl,
    mode: MODES.includes(merged.mode) ? merged.mode : DEFAULT_OPTIONS.mode,
    tier: TIER_SETTINGS.includes(merged.tier) ? merged.tier : DEFAULT_OPTIONS.tier,
    clipSeconds: normalizeClipSeconds(merged.clipSeconds),
    dimLift: Boolean(merged.dimLift),
    colorVision: COLOR_VISION.includes(merged.colorVision) ? merged.colorVision : 'none',
    colorVisionStrength: Number.isFinite(strength) ? Math.min(1, Math.max(0, strength)) : 1,
  };
}

/** The enhancement part of a `POST /v1/streams` or `POST /v1/videos` body. */
export function enhancementBody(options) {
  return {
    mode: options.mode,
    tier: options.tier,
    dim_lift: options.dimLift,
    color_vision: options.colorVision,
    color_vision_strength: options.colorVisionStrength,
  };
}
