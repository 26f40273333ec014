/**
 * Showing rich output in a tslab notebook. tslab's public API sends ONE mime type per display; we want
 * bundles (text/html + image/png + text/plain) so every frontend picks what it can show, so we use
 * tslab's internal writer (tslab 1.0.22, pinned) when present and fall back to the public API.
 * Outside a kernel (tests, plain node) bundles go to a sink that tests can replace; by default the
 * text/plain part is printed.
 */
export type MimeBundle = Record<string, string | Uint8Array>;
export type DisplaySink = (bundle: MimeBundle, displayId?: string, update?: boolean) => void;

let sink: DisplaySink | undefined;

/** Replaces where displays go (tests); pass undefined to restore the default. */
export function setDisplaySink(s: DisplaySink | undefined): void {
  sink = s;
}

function tslabWriter(): ((data: unknown, update: boolean) => void) | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const jupyter = require('tslab/dist/jupyter');
    return typeof jupyter.lastWriteDisplayData === 'function' ? jupyter.lastWriteDisplayData : undefined;
  } catch {
    return undefined;
  }
}

function encode(bundle: MimeBundle): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(bundle)) out[k] = typeof v === 'string' ? v : Buffer.from(v).toString('base64');
  return out;
}

/** Displays a mime bundle; with a displayId, `update` replaces that earlier display in place. */
export function displayBundle(bundle: MimeBundle, displayId?: string, update = false): void {
  if (sink) return sink(bundle, displayId, update);
  const write = tslabWriter();
  if (write) {
    write({ data: encode(bundle), metadata: {}, transient: displayId ? { display_id: displayId } : {} }, update);
    return;
  }
  const text = bundle['text/plain'];
  if (typeof text === 'string') console.log(text);
}

export function showHtml(html: string, text = '[html]'): void {
  displayBundle({ 'text/html': html, 'text/plain': text });
}

export function showMarkdown(md: string): void {
  displayBundle({ 'text/markdown': md, 'text/plain': md });
}

export function showPng(png: Uint8Array, alt = '[image]'): void {
  displayBundle({ 'image/png': png, 'text/plain': alt });
}

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

let nextId = 0;
/** A display id unique within this kernel session. */
export function newDisplayId(prefix = 'ltl'): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${nextId++}`;
}
