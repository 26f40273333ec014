/**
 * The notebooks in real JupyterLab 4 (the project's .venv), driven in headless Chromium by
 * playwright-core, as a researcher uses them:
 *  1. Fresh: open each notebook, run all cells (quick profile), no cell fails, every figure, image and
 *     table renders; save.
 *  2. Reopened untrusted (as a shared or downloaded notebook is): the server forgets the signatures,
 *     the page reloads, the outputs must still be visible (plotly's renderer needs no trust) and a
 *     figure still turns interactive on hover.
 *  3. JupyterLab without plotly's renderer: untrusted, figures fall back to the PNG inside their HTML;
 *     once trusted, the HTML's scripts draw the live plots.
 *  4. A viewer without JavaScript: nbconvert's HTML export with scripts disabled shows every figure.
 *  5. The classic Notebook 6 from Debian, untrusted: figures, images and tables visible.
 * LTL_SCREENSHOTS=dir saves screenshots of notebook 01 (after run all, and reopened);
 * LTL_LAB_NOTEBOOKS=00,01 limits the notebooks (development).
 */
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chromiumPath, launchChromium } from '../lib/report/chromium';
import { withNotebookRunLock } from './notebook-run-lock';

const ROOT = path.resolve(__dirname, '..');
const VENV = path.join(ROOT, '.venv');
const LAB = path.join(VENV, 'bin', 'jupyter-lab');
const CLASSIC = '/usr/bin/jupyter-notebook';
const PLOTLY = 'application/vnd.plotly.v1+json';
const only = (process.env.LTL_LAB_NOTEBOOKS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
const notebooks = fs.readdirSync(path.join(ROOT, 'notebooks'))
  .filter((f) => /^\d\d-.*\.ipynb$/.test(f) && (!only.length || only.some((p) => f.startsWith(p))))
  .sort();
const SHOT_NOTEBOOK = '01-datasets-and-shortcuts.ipynb';
const shotsDir = process.env.LTL_SCREENSHOTS;

const missing = !fs.existsSync(LAB)
  ? 'JupyterLab is not installed in .venv: run bash scripts/setup.sh (scripts/setup-jupyter.sh)'
  : !chromiumPath()
    ? 'Chromium missing: run bash scripts/setup.sh (Debian chromium)'
    : '';
// In CI (.ci/run installs both) a missing piece is a failure, not a skip.
const skip = process.env.CI ? false : missing || false;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ltl-lab-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
// A copy of the notebooks where the server may save, outside the repository.
const work = path.join(tmp, 'work');
const nbDir = path.join(work, 'notebooks');
const dataDir = path.join(tmp, 'data'); // Jupyter data: the trust database lives here
const cache = path.join(tmp, 'cache'); // fresh: the run trains and generates maps

function log(msg: string): void {
  process.stderr.write(`[lab-test] ${msg}\n`);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

interface Server {
  base: string;
  token: string;
  proc: ChildProcess;
  api: (p: string, init?: RequestInit) => Promise<Response>;
  stop: () => Promise<void>;
}

/** Starts a Jupyter server (JupyterLab or the classic notebook) on 127.0.0.1 with a random token. */
/** Jupyter's own files in the test's folder, never in ~/.jupyter or ~/.local/share/jupyter. */
function jupyterDirs(configDir = path.join(tmp, 'config-cli')): NodeJS.ProcessEnv {
  return {
    JUPYTER_CONFIG_DIR: configDir, JUPYTER_DATA_DIR: dataDir,
    JUPYTER_RUNTIME_DIR: path.join(tmp, 'runtime'), IPYTHONDIR: path.join(tmp, 'ipython'),
  };
}

async function startServer(kind: 'lab' | 'classic', configDir: string): Promise<Server> {
  // No "get notified about Jupyter news?" toast over the notebook.
  const news = path.join(configDir, 'lab', 'user-settings', '@jupyterlab', 'apputils-extension', 'notification.jupyterlab-settings');
  fs.mkdirSync(path.dirname(news), { recursive: true });
  fs.writeFileSync(news, JSON.stringify({ fetchNews: 'false' }));
  const port = await freePort();
  const token = crypto.randomBytes(16).toString('hex');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    LTL_PROFILE: 'quick', LTL_CACHE_DIR: cache, LTL_SKIP_BUILD: '1',
    ...jupyterDirs(configDir),
    // The classic notebook (Debian's python) finds the tslab kernel spec in the project-local path;
    // JupyterLab finds it in the venv.
    JUPYTER_PATH: path.join(ROOT, '.ltl-jupyter'),
    PYDEVD_DISABLE_FILE_VALIDATION: '1',
  };
  const common = [
    '--no-browser', '--ip=127.0.0.1', `--port=${port}`, `--notebook-dir=${work}`,
    ...(process.getuid?.() === 0 ? ['--allow-root'] : []), // CI runs as root
  ];
  const args = kind === 'lab'
    ? [...common, '--ServerApp.port_retries=0', `--IdentityProvider.token=${token}`, '--LabApp.expose_app_in_browser=True',
      '--LabApp.news_url=None', '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate']
    : [...common, '--NotebookApp.port_retries=0', `--NotebookApp.token=${token}`];
  const proc = spawn(kind === 'lab' ? LAB : CLASSIC, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d) => { stderr = (stderr + d).slice(-20000); });
  const base = `http://127.0.0.1:${port}`;
  const api = (p: string, init: RequestInit = {}) =>
    fetch(base + p, { ...init, headers: { Authorization: `token ${token}`, ...(init.headers ?? {}) } });
  const t0 = Date.now();
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`${kind} server exited:\n${stderr}`);
    try {
      if ((await api('/api/status')).ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() - t0 > 60_000) throw new Error(`${kind} server did not start in 60 s:\n${stderr}`);
    await new Promise((r) => setTimeout(r, 300));
  }
  log(`${kind} server up in ${((Date.now() - t0) / 1000).toFixed(1)} s on ${base}`);
  const stop = async () => {
    if (proc.exitCode !== null) return;
    const done = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await Promise.race([done, new Promise((r) => setTimeout(r, 10_000))]);
    if (proc.exitCode === null) proc.kill('SIGKILL');
  };
  return { base, token, proc, api, stop };
}

async function shutdownKernels(server: Server): Promise<void> {
  const sessions = (await (await server.api('/api/sessions')).json()) as { id: string }[];
  for (const s of sessions) await server.api(`/api/sessions/${s.id}`, { method: 'DELETE' });
}

/** The server forgets every signature: its notebooks open untrusted, like someone else's. */
function forgetSignatures(): void {
  const db = path.join(dataDir, 'nbsignatures.db');
  if (!fs.existsSync(db)) return;
  const r = spawnSync(path.join(VENV, 'bin', 'python'), ['-c', 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("DELETE FROM nbsignatures"); c.commit()', db], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

interface Expected { figures: number; htmlImages: number; pngs: number; tables: number; codeCells: number }

/** What a saved notebook's outputs should show: figures (plotly JSON), HTML images, plain PNGs, tables. */
function expectedOutputs(file: string): Expected {
  const nb = JSON.parse(fs.readFileSync(file, 'utf8'));
  const e: Expected = { figures: 0, htmlImages: 0, pngs: 0, tables: 0, codeCells: 0 };
  for (const c of nb.cells) {
    if (c.cell_type !== 'code') continue;
    e.codeCells++;
    for (const o of c.outputs ?? []) {
      const d = o.data ?? {};
      const html = [].concat(d['text/html'] ?? []).join('');
      if (d[PLOTLY]) e.figures++;
      else if (html.includes('<img')) e.htmlImages++;
      else if (d['image/png']) e.pngs++;
      if (html.includes('ltl-table')) e.tables++;
    }
  }
  return e;
}

type Page = any;

/** Opens a notebook in JupyterLab and waits until the notebook and its kernel are ready. */
async function openInLab(page: Page, server: Server, name: string): Promise<void> {
  // ?reset: a clean workspace, so the tabs of earlier notebooks (and their kernels) do not come back.
  await page.goto(`${server.base}/lab/tree/notebooks/${name}?reset&token=${server.token}`, { waitUntil: 'domcontentloaded' });
  await page.waitForFunction((nb: string) => {
    const app = (window as any).jupyterapp;
    const w = app?.shell?.currentWidget;
    return !!(w && w.context?.path?.endsWith(nb) && w.context.isReady && w.content?.widgets?.length
      && w.sessionContext?.session?.kernel?.status === 'idle');
  }, name, { timeout: 90_000, polling: 250 });
}

/**
 * Runs all cells as the Run menu does, and waits until no cell is queued or running. Returns the
 * statuses of the kernel's execute replies: tslab reports a failing cell as status 'error' with the
 * message on the cell's stderr, not as an error output.
 */
async function runAll(page: Page, timeoutMs: number): Promise<string[]> {
  await page.evaluate(() => {
    const w = (window as any).jupyterapp.shell.currentWidget;
    const replies: string[] = ((window as any).__ltlReplies = []);
    w.sessionContext.session.kernel.anyMessage.connect((_: unknown, a: any) => {
      if (a.direction === 'recv' && a.msg.header.msg_type === 'execute_reply') replies.push(a.msg.content.status);
    });
    return (window as any).jupyterapp.commands.execute('notebook:run-all-cells');
  });
  await page.waitForFunction(() => {
    const w = (window as any).jupyterapp.shell.currentWidget;
    const busy = w.content.widgets.some((c: any) => c.model.type === 'code' && /\*/.test(c.node.querySelector('.jp-InputPrompt')?.textContent ?? ''));
    const idle = w.sessionContext?.session?.kernel?.status === 'idle';
    const t = Date.now();
    const s = ((window as any).__ltlIdleSince ??= { t });
    if (busy || !idle) s.t = t;
    return t - s.t > 1500; // idle with nothing queued for 1.5 s
  }, null, { timeout: timeoutMs, polling: 500 });
  return page.evaluate(() => { delete (window as any).__ltlIdleSince; return (window as any).__ltlReplies; });
}

interface CellState { executed: number; code: number; errors: string[]; stderr: string[]; trusted: boolean[] }

async function cellState(page: Page): Promise<CellState> {
  return page.evaluate(() => {
    const w = (window as any).jupyterapp.shell.currentWidget;
    const code = w.content.widgets.filter((c: any) => c.model.type === 'code');
    const errors: string[] = [];
    const stderr: string[] = [];
    for (const c of code) {
      for (const o of c.node.querySelectorAll('.jp-OutputArea-output')) {
        const mime = o.getAttribute('data-mime-type') ?? '';
        if (mime === 'application/vnd.jupyter.error') errors.push((o.textContent ?? '').slice(0, 600));
        if (mime === 'application/vnd.jupyter.stderr') stderr.push((o.textContent ?? '').slice(0, 600));
      }
    }
    return {
      code: code.length,
      executed: code.filter((c: any) => c.model.executionCount !== null).length,
      errors,
      stderr,
      trusted: code.filter((c: any) => c.model.outputs.length).map((c: any) => c.model.trusted),
    };
  });
}

interface Rendered { plotly: number; plotlyVisible: number; htmlFigures: number; fallbacks: number; live: number; images: number; imagesOk: number; tables: number }

/** Counts what the page shows, scrolling every output into view first (cells off screen are skipped by the browser). */
async function rendered(page: Page, root = '.jp-NotebookPanel:not(.lm-mod-hidden)', scripts = true): Promise<Rendered> {
  // A page without JavaScript runs no timers or animation frames: nothing to scroll or wait for after 'load'.
  if (!scripts) return page.evaluate(`(${COUNT_OUTPUTS})(${JSON.stringify(root)})`);
  await page.evaluate(async (sel: string) => {
    for (const o of document.querySelectorAll(`${sel} .jp-OutputArea-output, ${sel} .output_subarea, ${sel} .jp-RenderedHTMLCommon`)) {
      (o as HTMLElement).scrollIntoView({ block: 'center' });
      await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 30)));
    }
  }, root);
  await page.waitForFunction(() => [...document.images].every((i) => i.complete), null, { timeout: 20_000 });
  return page.evaluate(`(${COUNT_OUTPUTS})(${JSON.stringify(root)})`);
}

/**
 * In the page: counts of visible outputs. A string, not a function: tsx would wrap the named helpers
 * in a __name() call that does not exist in the page.
 */
const COUNT_OUTPUTS = `function (sel) {
  const q = (s) => [...document.querySelectorAll(s.split(',').map((x) => sel + ' ' + x.trim()).join(', '))];
  const visible = (e) => { const r = e.getBoundingClientRect(); const st = getComputedStyle(e); return r.width > 20 && r.height > 20 && st.display !== 'none' && st.visibility !== 'hidden'; };
  const imgOk = (i) => i.complete && i.naturalWidth > 0 && visible(i);
  const plotly = q('.jp-RenderedPlotly');
  const shows = (p) => {
    const img = p.querySelector('img.plot-img');
    const svg = p.querySelector('.plot-container svg.main-svg');
    return !!((img && imgOk(img)) || (svg && visible(svg.closest('.plot-container'))));
  };
  const images = q('.jp-OutputArea-output img, .output_subarea img').filter((i) => !i.closest('.jp-RenderedPlotly') && !i.closest('.ltl-figure'));
  return {
    plotly: plotly.length,
    plotlyVisible: plotly.filter(shows).length,
    htmlFigures: q('.ltl-figure').length,
    fallbacks: q('.ltl-figure img.ltl-fallback').filter(imgOk).length,
    live: q('.ltl-figure .js-plotly-plot').filter((p) => p.querySelector('svg.main-svg')).length,
    images: images.length,
    imagesOk: images.filter(imgOk).length,
    tables: q('table.ltl-table').length,
  };
}`;

/** Hovers the first plotly output; plotly's renderer swaps its static image for the live plot. */
async function hoverFirstFigure(page: Page): Promise<boolean> {
  const fig = page.locator('.jp-RenderedPlotly').first();
  if (!(await fig.count())) return false;
  await fig.scrollIntoViewIfNeeded();
  await fig.hover();
  await page.waitForFunction(() => {
    const p = document.querySelector('.jp-RenderedPlotly .plot-container svg.main-svg');
    return !!p && (p.closest('.plot-container') as HTMLElement).style.display !== 'none';
  }, null, { timeout: 60_000 });
  return true;
}

async function screenshot(page: Page, file: string): Promise<void> {
  if (!shotsDir) return;
  fs.mkdirSync(shotsDir, { recursive: true });
  // The cell of the first figure at the top: its code, execution count and plot.
  await page.evaluate(() => {
    const f = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-RenderedPlotly');
    (f?.closest('.jp-Cell') ?? f)?.scrollIntoView({ block: 'start' });
  });
  await new Promise((r) => setTimeout(r, 800));
  await page.screenshot({ path: path.join(shotsDir, file) });
  log(`screenshot ${path.join(shotsDir, file)}`);
}

test('notebooks in JupyterLab: run all, save, reopen untrusted; other front ends show the saved outputs', { skip, timeout: 25 * 60_000 }, async () => {
  assert.equal(missing, '', missing);
  // A folder outside the repository with nothing but the notebooks: the kernel spec makes the library
  // importable there (scripts/tslab-kernel).
  fs.mkdirSync(nbDir, { recursive: true });
  for (const f of notebooks) fs.copyFileSync(path.join(ROOT, 'notebooks', f), path.join(nbDir, f));
  assert.ok(notebooks.length > 0, 'notebooks to run');
  const timings: Record<string, number> = {};
  const t0 = Date.now();
  const browser = await launchChromium();
  let lab: Server | undefined;
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (e: Error) => pageErrors.push(e.message));
    page.on('dialog', (d: any) => d.accept().catch(() => undefined)); // "leave the page?" after a hover changed a figure's PNG

    // 1 + 2: JupyterLab with plotly's renderer (as `npm run lab` runs it).
    lab = await startServer('lab', path.join(tmp, 'config-lab'));
    const expected: Record<string, Expected> = {};
    await withNotebookRunLock(async () => {
      for (const name of notebooks) {
        const t = Date.now();
        await openInLab(page, lab!, name);
        const replies = await runAll(page, 12 * 60_000);
        const st = await cellState(page);
        const why = `stderr of the cells:\n${st.stderr.join('\n---\n')}`;
        assert.equal(st.executed, st.code, `${name}: every code cell ran (${st.executed}/${st.code}); ${why}`);
        assert.deepEqual(replies, Array(st.code).fill('ok'), `${name}: every cell succeeded; ${why}`);
        assert.deepEqual(st.errors, [], `${name}: no error output`);
        // Warnings (console.warn, process warnings) are output too, but no "static PNG fallback skipped".
        assert.ok(!st.stderr.some((e) => /fallback skipped|Error:/.test(e)), `${name}: ${why}`);
        await page.evaluate(() => (window as any).jupyterapp.commands.execute('docmanager:save'));
        await page.waitForFunction(() => !(window as any).jupyterapp.shell.currentWidget.context.model.dirty, null, { timeout: 30_000 });
        const exp = (expected[name] = expectedOutputs(path.join(nbDir, name)));
        const r = await rendered(page);
        assert.equal(r.plotly, exp.figures, `${name}: figures drawn by plotly's renderer`);
        assert.equal(r.plotlyVisible, exp.figures, `${name}: every figure visible`);
        assert.equal(r.imagesOk, exp.htmlImages + exp.pngs, `${name}: every image decoded and visible (${r.images} found)`);
        assert.equal(r.tables, exp.tables, `${name}: tables`);
        if (exp.figures) assert.ok(await hoverFirstFigure(page), `${name}: a figure turns interactive`);
        if (name === SHOT_NOTEBOOK) await screenshot(page, 'jupyterlab-run-all.png');
        await shutdownKernels(lab!);
        timings[name] = (Date.now() - t) / 1000;
        log(`${name}: ran ${st.code} cells in ${timings[name].toFixed(0)} s; ${exp.figures} figures, ${exp.htmlImages + exp.pngs} images, ${exp.tables} tables`);
      }
    }, log);
    const totals = Object.values(expected).reduce((a, e) => ({ f: a.f + e.figures, i: a.i + e.htmlImages + e.pngs }), { f: 0, i: 0 });
    if (!only.length) assert.ok(totals.f > 0 && totals.i > 0, 'the notebooks have figures and images');

    const phase = (what: string) => log(`${what} done at ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    phase('run all, save');

    // 2: reopened untrusted.
    forgetSignatures();
    for (const name of notebooks) {
      const content = await (await lab.api(`/api/contents/notebooks/${name}`)).json() as { content: { cells: { cell_type: string; metadata: { trusted?: boolean } }[] } };
      assert.ok(content.content.cells.filter((c) => c.cell_type === 'code').every((c) => c.metadata.trusted === false), `${name}: the server no longer trusts it`);
      await openInLab(page, lab, name); // a new page load: JupyterLab reopens the saved file
      const st = await cellState(page);
      assert.ok(st.trusted.every((t) => t === false), `${name}: opened untrusted`);
      const exp = expected[name];
      const r = await rendered(page);
      assert.equal(r.plotlyVisible, exp.figures, `${name} reopened: every figure still visible`);
      assert.equal(r.imagesOk, exp.htmlImages + exp.pngs, `${name} reopened: every image visible`);
      assert.equal(r.tables, exp.tables, `${name} reopened: tables`);
      if (exp.figures) assert.ok(await hoverFirstFigure(page), `${name} reopened: a figure still turns interactive`);
      if (name === SHOT_NOTEBOOK) await screenshot(page, 'jupyterlab-reopened-untrusted.png');
      await shutdownKernels(lab);
    }
    await lab.stop();
    lab = undefined;
    phase('reopen untrusted');

    // 3: JupyterLab without plotly's renderer: the HTML part, untrusted (PNG fallback) and trusted (live plots).
    const noPlotlyConfig = path.join(tmp, 'config-noplotly');
    fs.mkdirSync(path.join(noPlotlyConfig, 'labconfig'), { recursive: true });
    // By plugin id: the package name (jupyterlab-plotly) is not the prefix of its plugin's id.
    fs.writeFileSync(path.join(noPlotlyConfig, 'labconfig', 'page_config.json'), JSON.stringify({ disabledExtensions: { '@jupyterlab/plotly-extension:factory': true } }));
    lab = await startServer('lab', noPlotlyConfig);
    forgetSignatures();
    for (const name of notebooks) {
      const exp = expected[name];
      await openInLab(page, lab, name);
      let r = await rendered(page);
      assert.equal(r.plotly, 0, 'no plotly renderer');
      assert.equal(r.fallbacks, exp.figures, `${name} untrusted, no plotly renderer: every figure shows its PNG`);
      assert.equal(r.imagesOk, exp.htmlImages + exp.pngs, `${name} untrusted, no plotly renderer: images`);
      assert.equal(r.tables, exp.tables, `${name} untrusted, no plotly renderer: tables`);
      if (exp.figures) {
        const trust = spawnSync(path.join(VENV, 'bin', 'jupyter'), ['trust', path.join(nbDir, name)], { encoding: 'utf8', env: { ...process.env, ...jupyterDirs() } });
        assert.equal(trust.status, 0, trust.stderr);
        await page.reload({ waitUntil: 'domcontentloaded' });
        await openInLab(page, lab, name);
        await page.waitForFunction((n: number) => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .ltl-figure .js-plotly-plot')].filter((p) => p.querySelector('svg.main-svg')).length >= n, exp.figures, { timeout: 60_000 });
        r = await rendered(page);
        assert.equal(r.live, exp.figures, `${name} trusted, no plotly renderer: the HTML's scripts drew every figure`);
        assert.equal(r.fallbacks, 0, `${name} trusted: the PNGs gave way to the live plots`);
        forgetSignatures();
      }
      await shutdownKernels(lab);
    }
    await lab.stop();
    lab = undefined;
    phase('JupyterLab without plotly renderer');
    assert.deepEqual(pageErrors.filter((e) => !/ResizeObserver/.test(e)), [], 'no script errors in JupyterLab');
    await page.close();

    // 4: a viewer without JavaScript: nbconvert's HTML export, scripts disabled.
    const exported = path.join(tmp, 'html');
    const conv = spawnSync(path.join(VENV, 'bin', 'jupyter'), ['nbconvert', '--to', 'html', '--output-dir', exported, ...notebooks.map((n) => path.join(nbDir, n))], { encoding: 'utf8', env: { ...process.env, ...jupyterDirs() } });
    assert.equal(conv.status, 0, conv.stderr);
    const noJs = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1200, height: 900 } });
    for (const name of notebooks) {
      const p = await noJs.newPage();
      await p.goto('file://' + path.join(exported, name.replace(/\.ipynb$/, '.html')), { waitUntil: 'load' });
      const r = await rendered(p, 'body', false);
      assert.equal(r.fallbacks, expected[name].figures, `${name} without JavaScript: every figure shows its PNG`);
      assert.equal(r.imagesOk, r.images, `${name} without JavaScript: images decode`);
      await p.close();
    }
    await noJs.close();
    phase('nbconvert HTML without JavaScript');

    // 5: the classic Notebook 6 (Debian), untrusted.
    if (fs.existsSync(CLASSIC)) {
      const classic = await startServer('classic', path.join(tmp, 'config-classic'));
      try {
        const p = await browser.newPage({ viewport: { width: 1200, height: 900 } });
        for (const name of notebooks) {
          await p.goto(`${classic.base}/notebooks/notebooks/${name}?token=${classic.token}`, { waitUntil: 'load' });
          await p.waitForFunction(() => (window as any).IPython?.notebook?._fully_loaded, null, { timeout: 60_000 });
          assert.equal(await p.evaluate(() => (window as any).IPython.notebook.trusted), false, `${name}: classic opens it untrusted`);
          const r = await rendered(p, '#notebook');
          const exp = expected[name];
          assert.equal(r.fallbacks, exp.figures, `${name} in the classic notebook: every figure shows its PNG`);
          assert.equal(r.imagesOk, exp.htmlImages + exp.pngs, `${name} in the classic notebook: images`);
          assert.equal(r.tables, exp.tables, `${name} in the classic notebook: tables`);
          await shutdownKernels(classic);
        }
        await p.close();
      } finally {
        await classic.stop();
      }
      phase('classic notebook');
    }
  } finally {
    await lab?.stop();
    await browser.close();
  }
  const total = (Date.now() - t0) / 1000;
  log(`total ${total.toFixed(0)} s; notebooks: ${Object.entries(timings).map(([n, s]) => `${n.slice(0, 2)} ${s.toFixed(0)} s`).join(', ')}`);
});
