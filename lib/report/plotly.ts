import * as fs from 'node:fs';
import { displayBundle, escapeHtml, newDisplayId, type JsonValue, type MimeBundle } from './display';
import { jsonReplacer, pngFallbackEnabled, renderPlotlyPng } from './chromium';

/**
 * Plotly figures as mime bundles that every front end can show (see display.ts for who picks what):
 *  - application/vnd.plotly.v1+json: the figure as data, drawn by plotly's own renderer where one is
 *    installed (JupyterLab with the plotly package, as in the project's .venv; VS Code). It needs no
 *    trust, so the plot stays interactive in a reopened or shared notebook.
 *  - text/html: a self-contained snippet. The plotly.js bundle is inlined ONCE per kernel session (in
 *    the first figure shown), as a plain script tag: plotly.js-dist-min sets window.Plotly without AMD,
 *    so it works with or without require.js (JupyterLab, the classic notebook, nbconvert's HTML
 *    export). The snippet shows the static PNG as an <img> that the script replaces with the live plot,
 *    so where scripts do not run (untrusted output, viewers without JavaScript) the picture remains.
 *  - image/png: the static PNG (rendered by headless Chromium), for front ends that prefer images.
 *  - text/plain: the title.
 */
export interface Figure {
  data: Record<string, unknown>[];
  layout?: Record<string, unknown>;
  config?: Record<string, unknown>;
}

export interface FigureOptions {
  width?: number;
  height?: number;
  /** Render the static PNG fallback (default: yes when Chromium is available and LTL_PNG_FALLBACK != 0). */
  png?: boolean;
  /** Force (true) or suppress (false) inlining the plotly.js bundle; default: first figure of the session. */
  includeBundle?: boolean;
}

let bundleSent = false;

/** For tests: forget that the bundle was sent. */
export function resetPlotlyBundle(): void {
  bundleSent = false;
}

export function plotlyBundleScript(): string {
  const src = fs.readFileSync(require.resolve('plotly.js-dist-min'), 'utf8');
  // A literal "</script" would end the tag early (there is none in 3.7; guard anyway).
  return `<script type="text/javascript">${src.replace(/<\/script/gi, '<\\/script')}</script>`;
}

/** JSON safe inside a <script> element. */
export function scriptJson(v: unknown): string {
  return JSON.stringify(v, jsonReplacer).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** The layout and config a figure is drawn with (both the HTML and the plotly JSON): fixed size, no logo. */
function sized(fig: Figure, width: number, height: number): { layout: Record<string, unknown>; config: Record<string, unknown> } {
  return {
    layout: { width, height, margin: { l: 60, r: 20, t: 50, b: 50 }, ...(fig.layout ?? {}) },
    config: { responsive: false, displaylogo: false, ...(fig.config ?? {}) },
  };
}

export function figureHtml(fig: Figure, opts: { id?: string; width?: number; height?: number; png?: Uint8Array; includeBundle?: boolean } = {}): string {
  const id = opts.id ?? newDisplayId('fig');
  const width = opts.width ?? 720;
  const height = opts.height ?? 420;
  const { layout, config } = sized(fig, width, height);
  const fallback = opts.png
    ? `<img class="ltl-fallback" alt="${escapeHtml(String((layout as any).title?.text ?? (layout as any).title ?? 'figure'))}" width="${width}" height="${height}" src="data:image/png;base64,${Buffer.from(opts.png).toString('base64')}">`
    : '';
  return [
    opts.includeBundle ? plotlyBundleScript() : '',
    `<div class="ltl-figure" id="${id}-wrap">${fallback}<div id="${id}" class="ltl-plot"></div></div>`,
    '<script type="text/javascript">(function(){',
    `var el=document.getElementById(${JSON.stringify(id)});if(!el||!window.Plotly)return;`,
    `window.Plotly.newPlot(el,${scriptJson(fig.data)},${scriptJson(layout)},${scriptJson(config)}).then(function(){`,
    `var f=document.querySelector(${JSON.stringify('#' + id + '-wrap > img.ltl-fallback')});if(f)f.remove();});`,
    '})();</script>',
  ].join('');
}

/** The figure as application/vnd.plotly.v1+json: plain JSON (typed arrays as arrays, NaN as null), sized as the HTML. */
export function plotlyMimeJson(fig: Figure, width = 720, height = 420): JsonValue {
  const { layout, config } = sized(fig, width, height);
  return JSON.parse(JSON.stringify({ data: fig.data, layout, config }, jsonReplacer)) as JsonValue;
}

/** The mime bundle of a figure (see the comment at the top); `png` is the static copy when rendered. */
export function figureBundle(fig: Figure, opts: { width?: number; height?: number; png?: Uint8Array; includeBundle?: boolean } = {}): MimeBundle {
  const width = opts.width ?? 720;
  const height = opts.height ?? 420;
  const title = (fig.layout as any)?.title;
  const text = `[plotly figure${title ? ': ' + (typeof title === 'string' ? title : title.text) : ''}]`;
  const bundle: MimeBundle = {
    'application/vnd.plotly.v1+json': plotlyMimeJson(fig, width, height),
    'text/html': figureHtml(fig, { width, height, png: opts.png, includeBundle: opts.includeBundle }),
  };
  if (opts.png) bundle['image/png'] = opts.png;
  bundle['text/plain'] = text;
  return bundle;
}

/** Displays a figure: plotly JSON + interactive HTML with the PNG inside + the PNG + a text summary. */
export async function showFigure(fig: Figure, opts: FigureOptions = {}): Promise<void> {
  const width = opts.width ?? 720;
  const height = opts.height ?? 420;
  let png: Buffer | undefined;
  if (opts.png ?? pngFallbackEnabled()) {
    try {
      png = await renderPlotlyPng({ data: fig.data, layout: fig.layout }, width, height);
    } catch (e) {
      // The interactive plot still works; say why the static copy is missing instead of failing the cell.
      console.error(`(static PNG fallback skipped: ${(e as Error).message.split('\n')[0]})`);
    }
  }
  const includeBundle = opts.includeBundle ?? !bundleSent;
  const bundle = figureBundle(fig, { width, height, png, includeBundle });
  if (includeBundle) bundleSent = true;
  displayBundle(bundle);
}

// ---- figure builders: small, typed wrappers for the charts the notebooks draw ----

export interface Series {
  name: string;
  x: ArrayLike<number> | readonly (string | number)[];
  y: ArrayLike<number>;
  /** Optional error bars (e.g. std over seeds). */
  error?: ArrayLike<number>;
  dash?: 'solid' | 'dash' | 'dot';
  color?: string;
}

/** plotly's default qualitative colours, for series that must share a colour (e.g. validation/test of one run). */
export const PLOT_COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

export function lineFigure(series: readonly Series[], opts: { title?: string; xTitle?: string; yTitle?: string; yRange?: [number, number] } = {}): Figure {
  return {
    data: series.map((s) => ({
      type: 'scatter', mode: 'lines+markers', name: s.name, x: Array.from(s.x as ArrayLike<number>), y: Array.from(s.y),
      ...(s.error ? { error_y: { type: 'data', array: Array.from(s.error), visible: true } } : {}),
      line: { dash: s.dash ?? 'solid', ...(s.color ? { color: s.color } : {}) },
      ...(s.color ? { marker: { color: s.color } } : {}),
    })),
    layout: {
      title: { text: opts.title ?? '' },
      xaxis: { title: { text: opts.xTitle ?? '' } },
      yaxis: { title: { text: opts.yTitle ?? '' }, ...(opts.yRange ? { range: opts.yRange } : {}) },
    },
  };
}

export function barFigure(
  groups: readonly string[],
  series: readonly { name: string; y: ArrayLike<number>; error?: ArrayLike<number> }[],
  opts: { title?: string; xTitle?: string; yTitle?: string; yRange?: [number, number] } = {},
): Figure {
  // Groups are names: 'category' keeps names such as '0' and '40' from being drawn as numbers.
  return {
    data: series.map((s) => ({
      type: 'bar', name: s.name, x: [...groups], y: Array.from(s.y),
      ...(s.error ? { error_y: { type: 'data', array: Array.from(s.error), visible: true } } : {}),
    })),
    layout: {
      barmode: 'group', title: { text: opts.title ?? '' },
      xaxis: { type: 'category', automargin: true, ...(opts.xTitle ? { title: { text: opts.xTitle } } : {}) },
      yaxis: { title: { text: opts.yTitle ?? '' }, ...(opts.yRange ? { range: opts.yRange } : {}) },
    },
  };
}

/** A matrix as a heatmap; rows top to bottom as given. */
export function heatmapFigure(
  z: readonly (readonly number[])[],
  opts: { title?: string; x?: readonly (string | number)[]; y?: readonly (string | number)[]; xTitle?: string; yTitle?: string; colorscale?: string; annotate?: boolean } = {},
): Figure {
  const x = opts.x ? [...opts.x].map(String) : z[0]?.map((_, i) => String(i)) ?? [];
  const y = opts.y ? [...opts.y].map(String) : z.map((_, i) => String(i));
  const annotations = opts.annotate
    ? z.flatMap((row, i) => row.map((v, j) => ({ x: x[j], y: y[i], text: formatCell(v), showarrow: false, font: { size: 10 } })))
    : [];
  return {
    data: [{ type: 'heatmap', z: z.map((r) => [...r]), x, y, colorscale: opts.colorscale ?? 'Viridis' }],
    layout: {
      title: { text: opts.title ?? '' },
      xaxis: { title: { text: opts.xTitle ?? '' }, type: 'category' },
      yaxis: { title: { text: opts.yTitle ?? '', standoff: 12 }, type: 'category', autorange: 'reversed', automargin: true },
      annotations,
    },
  };
}

function formatCell(v: number): string {
  if (!Number.isFinite(v)) return '';
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 10 ? v.toFixed(0) : v.toFixed(2);
}
