/**
 * Showing rich output in a tslab notebook. tslab's public API sends ONE mime type per display; we want
 * bundles so every front end picks what it can show, so we use tslab's internal writer (tslab 1.0.22,
 * pinned) when present and fall back to the public API. Outside a kernel (tests, plain node) bundles
 * go to a sink that tests can replace; by default the text/plain part is printed.
 *
 * Which part of a bundle is shown is the front end's choice, never the order of its keys (nbformat
 * saves them sorted). What each one picks from the bundles of lib/report:
 *  - JupyterLab 4: the renderer of lowest rank among those present, and while a notebook is not trusted
 *    (a reopened, shared or downloaded one) only renderers marked safe: plotly's
 *    application/vnd.plotly.v1+json (rank 2, safe; the plotly package in .venv provides it) before
 *    text/html (50; sanitized when untrusted: scripts dropped, <img src="data:..."> kept) before
 *    image/png (90).
 *  - classic Notebook 6: text/html before image/png (unknown types skipped); untrusted HTML sanitized
 *    (scripts dropped, data: images kept).
 *  - VS Code: application/vnd.* first (its plotly renderer), then text/html, then images.
 *  - nbconvert HTML (reports/): text/html, scripts included.
 *  - Viewers without JavaScript: text/html without its scripts, or image/png.
 * So a figure carries the plotly JSON, HTML whose PNG <img> stays visible until a script replaces it
 * with the live plot, the PNG itself, and text; an image grid HTML (<img> and caption), the PNG and
 * text; a table HTML and text. test/notebooks-jupyterlab.test.ts checks these front ends in a browser
 * (JupyterLab with and without plotly's renderer, trusted and not; the classic notebook; nbconvert's
 * HTML without JavaScript); VS Code's choice is its documented order, not tested here.
 */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [k: string]: JsonValue };
/** A mime bundle: strings, bytes (sent base64, as image/png must be) or JSON (the application/*+json types). */
export type MimeBundle = Record<string, string | Uint8Array | JsonValue>;
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

function encode(bundle: MimeBundle): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const [k, v] of Object.entries(bundle)) out[k] = v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v;
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
