// Who may send which message. Content scripts run inside web pages, so a page that takes
// over its renderer can send whatever they may: only the video finder's geometry reports
// come from there. Everything that starts, stops or reports on a capture must come from one
// of the extension's own pages (popup, player, offscreen recorder).

/** Whether `sender` (chrome.runtime.MessageSender) is a page of this extension. */
export function fromExtensionPage(sender, extensionId, extensionOrigin) {
  return sender?.id === extensionId && typeof sender.url === 'string' && sender.url.startsWith(extensionOrigin);
}

/** Whether `sender` is this extension at all: one of its pages or its content scripts. */
export function fromThisExtension(sender, extensionId) {
  return sender?.id === extensionId;
}
