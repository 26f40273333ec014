/**
 * Notebook outputs as mime bundles, and papermill parameters for the TypeScript notebooks:
 *  - a figure's bundle carries plotly's JSON (plain arrays, NaN as null), HTML with the PNG inside, the
 *    PNG and text;
 *  - the TypeScript translator (scripts/papermill-tslab, installed into .venv) turns papermill values
 *    into TypeScript and reads the parameters cell back (--help-notebook);
 *  - `npm run papermill -- notebooks/00-start-here.ipynb OUT -p profileName quick` runs the real
 *    notebook with the parameter (LTL_PROFILE unset, so the parameter alone picks the profile);
 *  - plain `.venv/bin/papermill` (no wrapper, no --cwd, no Jupyter settings of the project) runs
 *    notebook 01 with the parameter from a folder outside the repository and from its root: the
 *    kernel spec, not the caller, makes the library importable;
 *  - a failing cell fails papermill and the wrapper prints the cell's error.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import * as report from '../lib/report';
import { withNotebookRunLock } from './notebook-run-lock';

const ROOT = path.resolve(__dirname, '..');
const PY = path.join(ROOT, '.venv', 'bin', 'python');
const missing = fs.existsSync(path.join(ROOT, '.venv', 'bin', 'papermill')) ? '' : 'papermill is not installed in .venv: run bash scripts/setup.sh (scripts/setup-jupyter.sh)';
// In CI (.ci/run installs the venv) a missing venv is a failure, not a skip.
const noVenv = process.env.CI ? false : missing || false;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ltl-papermill-'));
const env = (): NodeJS.ProcessEnv => {
  const e: NodeJS.ProcessEnv = {
    ...process.env, LTL_SKIP_BUILD: '1', LTL_CACHE_DIR: path.join(tmp, 'cache'),
    // Jupyter's files in the project (as scripts/jupyter-env.sh sets them), not in ~/.jupyter.
    JUPYTER_CONFIG_DIR: path.join(ROOT, '.ltl-jupyter', 'config'), JUPYTER_DATA_DIR: path.join(ROOT, '.ltl-jupyter'),
    JUPYTER_RUNTIME_DIR: path.join(tmp, 'runtime'),
  };
  delete e.LTL_PROFILE;
  return e;
};

test('a figure is a bundle: plotly JSON, HTML with the PNG inside, PNG, text', () => {
  const png = new Uint8Array([137, 80, 78, 71]);
  const fig = report.lineFigure([{ name: 's', x: [1, 2, 3], y: new Float32Array([0.5, NaN, 2]) }], { title: 'curve' });
  const b = report.figureBundle(fig, { width: 300, height: 200, png, includeBundle: false });
  assert.deepEqual(Object.keys(b).sort(), ['application/vnd.plotly.v1+json', 'image/png', 'text/html', 'text/plain']);
  const j = b['application/vnd.plotly.v1+json'] as { data: { y: unknown[] }[]; layout: { width: number; height: number }; config: Record<string, unknown> };
  assert.deepEqual(j.data[0].y, [0.5, null, 2], 'typed arrays as JSON arrays, NaN as a gap');
  assert.equal(JSON.stringify(j), JSON.stringify(JSON.parse(JSON.stringify(j))), 'plain JSON');
  assert.deepEqual([j.layout.width, j.layout.height], [300, 200]);
  assert.equal(j.config.displaylogo, false);
  const html = String(b['text/html']);
  assert.ok(html.includes('class="ltl-fallback"') && html.includes(`src="data:image/png;base64,${Buffer.from(png).toString('base64')}"`), 'the PNG inside the HTML');
  assert.equal(b['image/png'], png);
  assert.equal(b['text/plain'], '[plotly figure: curve]');
  const noPng = report.figureBundle(fig, { includeBundle: false });
  assert.ok(!('image/png' in noPng) && !String(noPng['text/html']).includes('class="ltl-fallback"'));
});

function py(code: string): string {
  const r = spawnSync(PY, ['-c', code], { encoding: 'utf8', env: env() });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

test('papermill: the TypeScript translator is registered and translates values', { skip: noVenv }, () => {
  assert.equal(missing, '', missing);
  const out = py(`
import json, papermill
from papermill.translators import translate_parameters, papermill_translators
for k in ('tslab', 'typescript', 'javascript'):
    assert papermill_translators.find_translator(k, 'x').__name__ == 'TypeScriptTranslator', k
print(translate_parameters('tslab', 'typescript', {'profileName': 'quick', 'n': 3, 'x': float('nan'), 'inf': float('-inf'),
    'ok': True, 'none': None, 'l': [1, 'a"b\\\\'], 'd': {'k': 2.5}}, 'Parameters'))
`);
  assert.equal(out.trim(), [
    '// Parameters', 'let profileName = "quick";', 'let n = 3;', 'let x = NaN;', 'let inf = -Infinity;', 'let ok = true;',
    'let none = null;', 'let l = [1, "a\\"b\\\\"];', 'let d = {"k": 2.5};',
  ].join('\n'));
});

test('papermill --help-notebook lists a notebook\'s parameters', { skip: noVenv }, () => {
  const r = spawnSync(path.join(ROOT, '.venv', 'bin', 'papermill'), ['--help-notebook', path.join(ROOT, 'notebooks', '04-training.ipynb')], { encoding: 'utf8', env: env() });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /profileName: string \(default 'standard'\)/);
});

// The tests that run notebooks wait for each other (withNotebookRunLock): a test's own timeout covers that wait (the
// headless reproduce or the JupyterLab run may hold the lock for minutes), and the spawned run's timeout is its budget.
const LOCK_WAIT = 25 * 60_000;

test('npm run papermill: notebook 00 with -p profileName quick, from the repository root', { skip: noVenv, timeout: LOCK_WAIT + 5 * 60_000 }, async () => {
  const out = path.join(tmp, '00-out.ipynb');
  const r = await withNotebookRunLock(() => spawnSync('bash', ['scripts/papermill.sh', 'notebooks/00-start-here.ipynb', out, '-p', 'profileName', 'quick'], { cwd: ROOT, encoding: 'utf8', env: env(), timeout: 4 * 60_000 }));
  assert.equal(r.status, 0, r.stderr.slice(-4000));
  const nb = JSON.parse(fs.readFileSync(out, 'utf8'));
  const injected = nb.cells.find((c: { metadata: { tags?: string[] } }) => c.metadata.tags?.includes('injected-parameters'));
  assert.ok(injected, 'papermill injected the parameters');
  assert.match([].concat(injected.source).join(''), /let profileName = "quick";/);
  const text = nb.cells.flatMap((c: { outputs?: { text?: string | string[] }[] }) => c.outputs ?? []).map((o: { text?: string | string[] }) => [].concat((o.text ?? []) as never).join('')).join('');
  assert.match(text, /^profile quick \(/m, 'the notebook ran with the quick profile');
  assert.equal(nb.metadata.papermill.parameters.profileName, 'quick');
  const counts = nb.cells.filter((c: { cell_type: string }) => c.cell_type === 'code').map((c: { execution_count: number | null }) => c.execution_count);
  assert.deepEqual(counts, counts.map((_: unknown, i: number) => i + 1), 'the output notebook numbers the cells that ran');
});

/** The environment of someone running papermill by hand: none of the project's Jupyter settings. */
function plainEnv(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, LTL_CACHE_DIR: path.join(tmp, 'cache'), JUPYTER_RUNTIME_DIR: path.join(tmp, 'runtime') };
  for (const k of ['LTL_PROFILE', 'JUPYTER_PATH', 'JUPYTER_DATA_DIR', 'JUPYTER_CONFIG_DIR']) delete e[k];
  return e;
}

test('plain papermill runs notebook 01 with -p profileName quick from a folder outside the repository and from its root', { skip: noVenv, timeout: LOCK_WAIT + 8 * 60_000 }, async () => {
  const outside = fs.mkdtempSync(path.join(tmp, 'outside-'));
  const notebook = path.join(ROOT, 'notebooks', '01-datasets-and-shortcuts.ipynb');
  const runs = [
    { cwd: outside, args: [notebook, 'out.ipynb'], out: path.join(outside, 'out.ipynb') },
    { cwd: ROOT, args: ['notebooks/01-datasets-and-shortcuts.ipynb', path.join(tmp, '01-from-root.ipynb')], out: path.join(tmp, '01-from-root.ipynb') },
  ];
  await withNotebookRunLock(() => {
    for (const run of runs) {
      const t0 = Date.now();
      const r = spawnSync(path.join(ROOT, '.venv', 'bin', 'papermill'), [...run.args, '-p', 'profileName', 'quick'], { cwd: run.cwd, encoding: 'utf8', env: plainEnv(), timeout: 3 * 60_000 });
      process.stderr.write(`[papermill-test] notebook 01 from ${run.cwd === ROOT ? 'the repository root' : 'outside'}: ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
      assert.equal(r.status, 0, `from ${run.cwd}: ${r.stderr.slice(-3000)}`);
      const nb = JSON.parse(fs.readFileSync(run.out, 'utf8'));
      assert.equal(nb.metadata.papermill.parameters.profileName, 'quick');
      const outputs = nb.cells.flatMap((c: { outputs?: { output_type: string; name?: string; text?: string | string[] }[] }) => c.outputs ?? []);
      assert.ok(!outputs.some((o: { output_type: string }) => o.output_type === 'error'), 'no error output');
      const stderr = outputs.filter((o: { name?: string }) => o.name === 'stderr').map((o: { text?: string | string[] }) => [].concat((o.text ?? []) as never).join('')).join('');
      assert.doesNotMatch(stderr, /Cannot find module/);
      const code = nb.cells.filter((c: { cell_type: string }) => c.cell_type === 'code');
      assert.ok(code.every((c: { metadata: { papermill?: { status?: string } } }) => c.metadata.papermill?.status === 'completed'), 'every cell completed');
    }
  });
});

test('papermill: a failing cell fails the run and the wrapper prints its error', { skip: noVenv, timeout: 2 * 60_000 }, () => {
  const dir = path.join(tmp, 'fails');
  fs.mkdirSync(dir, { recursive: true });
  const cell = (source: string, tags: string[] = []) => ({ cell_type: 'code', metadata: { tags }, execution_count: null, outputs: [], source });
  fs.writeFileSync(path.join(dir, 'fails.ipynb'), JSON.stringify({
    cells: [cell("let n = 1;", ['parameters']), cell("if (n === 2) throw new Error('boom with n = ' + n);")],
    metadata: { kernelspec: { name: 'tslab', display_name: 'TypeScript', language: 'typescript' } }, nbformat: 4, nbformat_minor: 5,
  }));
  const r = spawnSync('bash', [path.join(ROOT, 'scripts/papermill.sh'), path.join(dir, 'fails.ipynb'), path.join(dir, 'out.ipynb'), '-p', 'n', '2'], { encoding: 'utf8', env: env(), timeout: 100_000 });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /boom with n = 2/);
});
