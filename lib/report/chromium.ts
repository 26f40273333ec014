import * as fs from 'node:fs';

/**
 * Headless Chromium (playwright-core) for static PNGs of plotly figures: the fallback shown where
 * scripts do not run (an untrusted notebook, GitHub's viewer). One browser per process, closed after
 * a few idle seconds so a notebook kernel does not keep it alive. LTL_PNG_FALLBACK=0 disables it;
 * LTL_CHROMIUM overrides the executable.
 */
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

export function chromiumPath(): string | undefined {
  const candidates = [process.env.LTL_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'];
  return candidates.find((p): p is string => !!p && fs.existsSync(p));
}

type Page = any;
let browserP: Promise<any> | undefined;
let pageP: Promise<Page> | undefined;
let idleTimer: NodeJS.Timeout | undefined;
let queue: Promise<unknown> = Promise.resolve();
/** Renders asked for and not finished: the idle close waits for them. */
let pending = 0;

/** Launches (once) a headless Chromium; throws if playwright-core or Chromium is missing. */
export async function launchChromium(): Promise<any> {
  // Lazy: playwright-core is a dev dependency, only notebooks and tests need it.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { chromium } = require('playwright-core');
  const exe = chromiumPath();
  if (!exe) throw new Error('Chromium not found (set LTL_CHROMIUM)');
  return chromium.launch({ executablePath: exe, args: CHROMIUM_ARGS });
}

async function plotlyPage(): Promise<Page> {
  if (!browserP) browserP = launchChromium();
  if (!pageP) {
    pageP = (async () => {
      const browser = await browserP;
      const page = await browser.newPage();
      await page.setContent('<!doctype html><html><body style="margin:0"><div id="g"></div></body></html>');
      await page.addScriptTag({ path: require.resolve('plotly.js-dist-min') });
      return page;
    })();
  }
  return pageP;
}

export async function closeChromium(): Promise<void> {
  const b = browserP;
  browserP = undefined;
  pageP = undefined;
  if (b) await (await b.catch(() => undefined))?.close().catch(() => undefined);
}

function scheduleClose(): void {
  if (idleTimer) clearTimeout(idleTimer);
  idleTimer = undefined;
  if (pending > 0) return;
  idleTimer = setTimeout(() => {
    idleTimer = undefined;
    if (pending === 0) void closeChromium();
  }, 4000);
  idleTimer.unref();
}

export function pngFallbackEnabled(): boolean {
  return process.env.LTL_PNG_FALLBACK !== '0' && chromiumPath() !== undefined;
}

/** Renders a plotly figure to PNG bytes with Plotly.toImage in Chromium (serialised: one page). */
export async function renderPlotlyPng(figure: { data: unknown[]; layout?: unknown }, width: number, height: number): Promise<Buffer> {
  const run = async () => {
    const page = await plotlyPage();
    const dataUrl: string = await page.evaluate(
      async ({ fig, w, h }: { fig: any; w: number; h: number }) => {
        const P = (window as any).Plotly;
        const gd = document.getElementById('g');
        await P.newPlot(gd, fig.data, { ...(fig.layout || {}), width: w, height: h }, { staticPlot: true });
        const url = await P.toImage(gd, { format: 'png', width: w, height: h });
        P.purge(gd);
        return url;
      },
      { fig: JSON.parse(JSON.stringify(figure, jsonReplacer)), w: width, h: height },
    );
    return Buffer.from(dataUrl.slice(dataUrl.indexOf(',') + 1), 'base64');
  };
  // No idle close from here on: a figure computed more than 4 s after the previous one used to find
  // its browser closing under it ("Target page, context or browser has been closed").
  pending++;
  if (idleTimer) clearTimeout(idleTimer);
  idleTimer = undefined;
  const p = queue.then(run, run);
  queue = p.catch(() => undefined);
  try {
    return await p;
  } finally {
    pending--;
    scheduleClose();
  }
}

/** JSON for plot data: typed arrays as arrays, non-finite numbers as null (plotly's gaps). */
export function jsonReplacer(_key: string, v: unknown): unknown {
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Array.from(v as unknown as ArrayLike<number>, (x) => (Number.isFinite(x) ? x : null));
  if (typeof v === 'number' && !Number.isFinite(v)) return null;
  return v;
}
