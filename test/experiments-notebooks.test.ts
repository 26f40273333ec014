import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Jimp } from 'jimp';
import * as report from '../lib/report';
import * as evaluate from '../lib/evaluate';
import * as experiments from '../lib/experiments';
import { loadDataset } from '../lib/data';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeCheckpoint } from '../lib/train/checkpoint';
import { resolveConfig } from '../lib/train/config';

test('profiles: parameters cell name, LTL_PROFILE wins, typos are errors', () => {
  assert.equal(experiments.getProfile('quick', {}).name, 'quick');
  assert.equal(experiments.getProfile('standard', { LTL_PROFILE: 'quick' }).name, 'quick');
  assert.throws(() => experiments.getProfile('standard', { LTL_PROFILE: 'fast' }), /unknown profile 'fast' \(from LTL_PROFILE\)/);
  for (const p of experiments.PROFILE_NAMES) {
    const pr = experiments.PROFILES[p];
    assert.ok(pr.attentionEpoch < pr.epochs, `${p}: attention epoch inside training`);
    assert.ok(pr.seeds.length >= 1);
  }
  assert.equal(experiments.limit(100, null), 100);
  assert.equal(experiments.limit(100, 10), 10);
});

test('figureHtml: bundle only when asked, data cannot close the script tag', () => {
  const fig = report.lineFigure([{ name: '</script><b>x', x: [1, 2], y: new Float32Array([0.5, NaN]) }], { title: 't' });
  const h1 = report.figureHtml(fig, { id: 'a', includeBundle: true });
  const h2 = report.figureHtml(fig, { id: 'b' });
  assert.ok(h1.includes('window.Plotly = Plotly') && !h2.includes('window.Plotly = Plotly'));
  assert.ok(h1.length > 4e6 && h2.length < 5000);
  // The only "</script" occurrences are our own closing tags.
  assert.equal(h2.split('</script>').length - 1, 1);
  assert.ok(h2.includes('[0.5,null]'));
});

test('showFigure sends html + png once Chromium rendered it; bundle inlined once', async () => {
  const sent: report.MimeBundle[] = [];
  report.setDisplaySink((b) => sent.push(b));
  report.resetPlotlyBundle();
  try {
    const fig = report.barFigure(['a', 'b'], [{ name: 's', y: [1, 3] }], { title: 'bars' });
    await report.showFigure(fig, { width: 300, height: 200 });
    await report.showFigure(fig, { width: 300, height: 200, png: false });
  } finally {
    report.setDisplaySink(undefined);
    await report.closeChromium();
  }
  assert.equal(sent.length, 2);
  assert.ok(String(sent[0]['text/html']).includes('window.Plotly = Plotly'));
  assert.ok(!String(sent[1]['text/html']).includes('window.Plotly = Plotly'));
  const png = sent[0]['image/png'] as Buffer;
  assert.ok(png, 'png fallback rendered');
  const img = await Jimp.read(png);
  assert.equal(img.bitmap.width, 300);
  // Not a blank page: plotly drew coloured bars.
  let coloured = 0;
  const d = img.bitmap.data;
  for (let i = 0; i < d.length; i += 4) if (Math.abs(d[i] - d[i + 2]) > 40) coloured++;
  assert.ok(coloured > 200, `coloured pixels ${coloured}`);
  assert.ok(String(sent[0]['text/html']).includes('class="ltl-fallback"'));
});

test('image grid: layout, pixels copied at scale, overlay coloured', async () => {
  const px = new Uint8Array(2 * 2 * 3);
  px.set([255, 0, 0], 0); // top-left red
  const image = { pixels: px, width: 2, height: 2, channels: 3 as const };
  const map = { data: [0, 0, 0, 1], width: 2, height: 2 };
  const png = await report.imageGridPng([[{ image }, { map }]], { scale: 4, gap: 1 });
  const img = await Jimp.read(png);
  assert.equal(img.bitmap.width, 1 + 2 * (8 + 1));
  assert.equal(img.bitmap.height, 1 + 8 + 1);
  const at = (x: number, y: number) => Array.from(img.bitmap.data.subarray((y * img.bitmap.width + x) * 4, (y * img.bitmap.width + x) * 4 + 3));
  assert.deepEqual(at(1, 1), [255, 0, 0]);
  assert.deepEqual(at(6, 6), [0, 0, 0]);
  assert.deepEqual(at(0, 0), [255, 255, 255]); // gap is white
  // map tile: value 0 is the ramp's dark end, value 1 its bright end
  assert.deepEqual(at(10, 1), report.colormap(0).map(Math.round));
  assert.deepEqual(at(17, 8), report.colormap(1).map(Math.round));
  const labelled = await report.imageGridPng([[{ image }]], { rowLabels: ['row one'], colLabels: ['c'] });
  assert.ok((await Jimp.read(labelled)).bitmap.width > 10);
});

test('resizeMap: identity at the same size, normalises', () => {
  const m = { data: [1, 2, 3, 5], width: 2, height: 2 };
  assert.deepEqual(Array.from(report.resizeMap(m, 2, 2)), [0, 0.25, 0.5, 1]);
  assert.deepEqual(Array.from(report.resizeMap(m, 2, 2, false)), [1, 2, 3, 5]);
});

test('tables: html escapes, text aligns, mean +- std', () => {
  const rows = [{ method: '<ours>', acc: 0.5 }, { method: 'b', acc: 12 }];
  const h = report.htmlTable(rows, { caption: 'c', highlight: { column: 'method', value: 'b' } });
  assert.ok(h.includes('&lt;ours&gt;') && h.includes('0.50') && h.includes('background'));
  const t = report.textTable(rows).split('\n');
  assert.equal(t[0], 'method  acc');
  assert.equal(t[2], '<ours>  0.50');
  assert.equal(report.formatMeanStd([0.5, 0.7], { percent: true, digits: 1 }), '60.0 ± 14.1');
  assert.equal(report.formatMeanStd([0.5]), '0.50');
});

test('shortcut statistics: a colour lookup is perfect in train/val and always wrong on test', () => {
  const ds = loadDataset('colormnist', { cacheDir: report.dataCacheDir() });
  const tr = evaluate.shortcutStats(ds.train, 3000);
  const table = evaluate.fitLookup(tr);
  assert.deepEqual(Array.from(table), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.equal(evaluate.lookupAccuracy(table, tr, ds.train.labels), 1);
  const va = evaluate.shortcutStats(ds.val, 1000);
  assert.equal(evaluate.lookupAccuracy(table, va, ds.val.labels), 1);
  const te = evaluate.shortcutStats(ds.test, 1000);
  assert.equal(evaluate.lookupAccuracy(table, te, ds.test.labels), 0);
  const d = loadDataset('decoymnist', { cacheDir: report.dataCacheDir() });
  const dtr = evaluate.shortcutStats(d.train, 2000);
  // train patch of label y is 255 - 25 y: bin 10 - y
  for (let y = 0; y < 10; y++) assert.equal(dtr.counts[y].indexOf(Math.max(...dtr.counts[y])), 10 - y);
});

test('progress: formatted line, updates one display in place', () => {
  assert.match(report.formatProgress('maps', 5, 10, 2000), /^maps \[#{12}-{12}\] 5\/10 \(50%\) 2\.0s eta 2s$/);
  const seen: { id?: string; update?: boolean }[] = [];
  report.setDisplaySink((_b, id, update) => seen.push({ id, update }));
  try {
    const p = report.progress('x', { minIntervalMs: 0 });
    p.update(1, 2);
    p.update(2, 2);
    p.done();
  } finally {
    report.setDisplaySink(undefined);
  }
  assert.equal(seen.length, 3);
  assert.ok(seen.every((s) => s.id === seen[0].id));
  assert.deepEqual(seen.map((s) => s.update), [false, true, true]);
});

test('attention maps of a model before and after a (tiny) training run', async () => {
  const { runTraining } = await import('../lib/train');
  const ds = loadDataset('decoymnist', { cacheDir: report.dataCacheDir() });
  const sub = evaluate.subsetSplit(ds.val, [5, 2, 9]);
  assert.equal(sub.count, 3);
  assert.equal(sub.labels[1], ds.val.labels[2]);
  assert.deepEqual(Array.from(sub.shortcutMasks!.subarray(784, 1568)), Array.from(ds.val.shortcutMasks!.subarray(2 * 784, 3 * 784)));
  const config = { model: 'lenet-gap' as const, seed: 37 };
  const before = evaluate.attentionMaps(config, 'initial', ds.val, [0, 1, 2, 3]);
  assert.deepEqual([before.count, before.height, before.width], [4, 10, 10]);
  assert.ok(before.data.every((v) => Number.isFinite(v) && v >= 0));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ltl-cams-'));
  await runTraining({ dataset: 'decoymnist', method: 'vanilla', epochs: 1, limit: 64, evalLimit: 32, seed: 37 }, { outDir: dir, dataset: ds });
  const after = evaluate.attentionMaps(config, { runDir: dir }, ds.val, [0, 1, 2, 3]);
  assert.equal(after.data.length, 400);
  assert.notDeepEqual(Array.from(after.data), Array.from(before.data), 'training changed the maps');
  assert.throws(() => evaluate.attentionMaps(config, { runDir: path.join(dir, 'nope') }, ds.val, [0]), /no checkpoint/);
  // input gradients at the input's resolution, of the selected epoch's weights (selected.safetensors)
  assert.ok(fs.existsSync(path.join(dir, 'selected.safetensors')));
  assert.equal(evaluate.runWeightsEpoch(dir), 0);
  const g = evaluate.inputGradients(config, { runDir: dir }, ds.val, [0, 1, 2, 3]);
  assert.deepEqual([g.count, g.size, g.energy.length], [4, 32, 4 * 32 * 32]);
  assert.ok(g.energy.some((v) => v > 0) && g.energy.every((v, i) => v >= g.offGrey[i] && g.offGrey[i] >= 0));
  const s = evaluate.gradientShares(g, ds.val, [0, 1, 2, 3]);
  assert.ok(s.onShortcut !== null && s.onShortcut >= 0 && s.onShortcut <= 1);
  assert.ok(s.onDigit > 0 && s.onDigit <= 1);
  assert.equal(evaluate.shortcutShare(s), s.onShortcut);
});

test('notebooks are committed clean: no outputs, one parameters cell, the tslab kernel', () => {
  const dir = path.join(__dirname, '..', 'notebooks');
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.ipynb'));
  assert.ok(files.length >= 6);
  for (const f of files) {
    const nb = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
    assert.equal(nb.metadata.kernelspec.name, 'tslab', f);
    const code = nb.cells.filter((c: { cell_type: string }) => c.cell_type === 'code');
    assert.ok(code.every((c: { outputs: unknown[] }) => c.outputs.length === 0), `${f}: outputs must be cleared before committing`);
    const params = code.filter((c: { metadata: { tags?: string[] } }) => c.metadata.tags?.includes('parameters'));
    assert.equal(params.length, 1, `${f}: exactly one parameters cell`);
    assert.match([].concat(params[0].source).join(''), /let profileName = '(quick|standard|paper)';/);
    assert.match([].concat(nb.cells[0].source).join(''), /^# \d\d · /, `${f}: starts with its title`);
  }
});

test('ablation specs: one factor at a time around the prompt-guided default, valid configs', () => {
  const p = experiments.PROFILES.standard;
  const specs = experiments.ablationSpecs(p);
  const values = (f: string) => specs.filter((s) => s.factor === f).map((s) => s.value);
  assert.deepEqual(values('lambda'), ['0', '1', '10 (default)', '100']);
  assert.deepEqual(values('map source'), ['embedded (default)', 'oracle', 'uniform', 'random']);
  assert.deepEqual(values('prompt'), ['"a digit" (default)', '"a digit", negative "a square"', 'negative "a square" only', '"a bar" (names nothing there)']);
  assert.equal(values('attribute prompt').length, 3);
  const configs = specs.map((s) => ({ s, c: resolveConfig(s.config) })); // every spec is a valid config
  for (const { s, c } of configs) {
    assert.equal(c.method, 'rrr', s.label);
    assert.equal(c.rrrMode, 'prompt', s.label);
    assert.equal(c.select, 'val-rr', s.label);
    assert.equal(c.attentionEpoch, 0, s.label);
    assert.equal(c.dataset, s.factor === 'attribute prompt' ? p.ablation.colourDataset : p.ablation.dataset, s.label);
  }
  const dflt = (f: string) => configs.find(({ s }) => s.factor === f && s.value.includes('(default)'))!.c;
  // the default point is one run folder whatever factor lists it
  assert.deepEqual(dflt('lambda'), dflt('map source'));
  assert.deepEqual(dflt('lambda'), dflt('prompt'));
  assert.equal(dflt('lambda').lambda, 10);
  assert.equal(configs.find(({ s }) => s.value === 'oracle')!.c.maps, 'oracle');
  const attrOnly = configs.find(({ s }) => s.value.endsWith(' only') && s.factor === 'attribute prompt')!.c;
  assert.equal(attrOnly.prompt, null);
  assert.equal(attrOnly.attributePrompt, 'colour of a digit');
  // notebook 01's vanilla config is the profile's (seed default = first seed)
  assert.deepEqual(experiments.profileConfig(p, 'colormnist', 'vanilla'), experiments.profileConfig(p, 'colormnist', 'vanilla', 37));
});

test("notebook 04's methods: four per dataset, one measuring prompt set and val-rr for all, flags that reproduce them", () => {
  const p = experiments.PROFILES.quick;
  assert.ok(p.datasets.includes('decoymnist-hard'));
  const specs = experiments.methodSpecs(p);
  assert.equal(specs.length, 4 * p.datasets.length * p.seeds.length);
  const of = (ds: string, label: string) => resolveConfig(specs.find((s) => s.config.dataset === ds && s.label === label)!.config);
  for (const ds of p.datasets) {
    const colour = ds.startsWith('color');
    for (const label of Object.values(experiments.METHOD_LABELS)) {
      const c = of(ds, label);
      assert.equal(c.prompt, 'a digit');
      assert.equal(c.attributePrompt, colour ? 'colour of a digit' : null);
      assert.equal(c.select, 'val-rr');
    }
    assert.equal(of(ds, experiments.METHOD_LABELS.align).maps, 'embedded');
    assert.equal(of(ds, experiments.METHOD_LABELS.annotation).rrrMode, colour ? 'colour' : 'spatial');
    assert.equal(of(ds, experiments.METHOD_LABELS.prompt).rrrMode, 'prompt');
    assert.equal(of(ds, experiments.METHOD_LABELS.prompt).lambda, 10);
  }
  // the flags shown give the same config through the CLI's own defaults (--rrr-mode, --maps, --lambda follow --prompt)
  const flags = experiments.trainFlags(of('decoymnist-hard', experiments.METHOD_LABELS.annotation));
  assert.match(flags, /--rrr-mode spatial/);
  assert.match(flags, /--lambda 1000/);
  assert.match(experiments.trainFlags(resolveConfig(experiments.ablationSpecs(p).find((s) => s.value === 'oracle')!.config)), /--maps oracle/);
});

test('selection rows: val-acc and val-rr picks from the same epoch records', () => {
  const rec = (epoch: number, valAcc: number, share: number, testAcc: number) => ({ epoch, phase: 'combined', valAcc, valScore: valAcc, valExcludedShare: share, testAcc });
  // the net learns the frame: validation accuracy rises, so does the excluded share, test accuracy falls
  const epochs = [rec(0, 0.8, 0.1, 0.6), rec(1, 0.95, 0.5, 0.3)];
  const run = { label: 'x', dir: '/r/x', config: resolveConfig({ dataset: 'decoymnist-hard', method: 'vanilla', prompt: 'a digit', select: 'val-rr' }), result: { epochs } as any };
  const rows = experiments.selectionRows([run, { ...run, label: 'same folder' }]);
  assert.equal(rows.length, 1, 'one row per run folder');
  assert.equal(rows[0]['val-acc picks epoch'], 2);
  assert.equal(rows[0]['test acc % there'], 30);
  assert.equal(rows[0]['val-rr picks epoch'], 1);
  assert.equal(rows[0]['test acc % at val-rr pick'], 60);
  assert.match(String(rows[0]['measured under']), /"a digit" \(embedded maps\)/);
});

test('the committed study table: rows from result files, none (and no failure) for an empty folder', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ltl-committed-'));
  assert.deepEqual(report.committedResultRows(path.join(dir, 'missing')), []);
  const sent: report.MimeBundle[] = [];
  report.setDisplaySink((b) => sent.push(b));
  try {
    report.showCommittedResults(path.join(dir, 'missing'));
  } finally {
    report.setDisplaySink(undefined);
  }
  assert.match(String(sent[0]['text/plain']), /No result files under/);
  const config = resolveConfig({ dataset: 'decoymnist-hard', method: 'vanilla', prompt: 'a digit', select: 'val-rr', seed: 1 });
  for (const [seed, test] of [[1, 0.2], [2, 0.4]] as const) {
    fs.mkdirSync(path.join(dir, `seed-${seed}`));
    fs.writeFileSync(path.join(dir, `seed-${seed}`, 'result.json'), JSON.stringify({ config: { ...config, seed }, selectBy: 'val-rr', selectedEpoch: 3, valAccSelected: 0.98, testAccSelected: test, testAccFinal: test, valExcludedShareSelected: 0.3, epochs: [] }));
  }
  const rows = report.committedResultRows(dir);
  assert.equal(rows.length, 1);
  assert.equal(rows[0]['test acc % (val-selected epoch)'], '30.00 ± 14.14');
  assert.equal(rows[0]['val excluded share % (selected)'], '30.00 ± 0.00');
  assert.equal(rows[0].seeds, '2 (1, 2)');
});

test("the paper's comparison beside the committed study: each published method's study row, twins without published numbers", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ltl-comparison-'));
  assert.ok(experiments.studyComparisonRows(path.join(dir, 'missing')).every((r) => r['ColorMNIST: study'] === 'not run'));
  const put = (dataset: string, row: string, seed: number, test: number) => {
    const config = resolveConfig({ dataset, method: row.startsWith('eg') ? 'eg' : 'vanilla', seed });
    fs.mkdirSync(path.join(dir, dataset, row, `seed-${seed}`), { recursive: true });
    fs.writeFileSync(path.join(dir, dataset, row, `seed-${seed}`, 'result.json'), JSON.stringify({ config, selectBy: 'val-acc', selectedEpoch: 3, valAccSelected: 0.9, testAccSelected: test, testAccFinal: 0, epochs: [] }));
  };
  put('colormnist', 'eg-annotation', 1, 0.1);
  put('colormnist', 'eg-annotation', 2, 0.3);
  put('decoymnist', 'eg-prompt', 1, 0.95);
  put('decoymnist-hard', 'vanilla', 1, 0.25);
  const rows = experiments.studyComparisonRows(dir);
  const eg = rows.find((r) => r.method === 'Expected Gradients penalty')!;
  assert.equal(eg['ColorMNIST: paper'], '10.0 ± 0.0');
  assert.equal(eg['ColorMNIST: study'], '20.0 ± 14.1 (2 seeds)');
  assert.equal(eg['DecoyMNIST: study'], 'not run');
  const twin = rows.find((r) => r.method === 'Expected Gradients with prompt masks (ours)')!;
  assert.equal(twin['DecoyMNIST: paper'], '—');
  assert.equal(twin['DecoyMNIST: study'], '95.0 (1 seed)');
  assert.equal(rows.find((r) => r.method === 'Vanilla (no penalty)')!['decoymnist-hard: study'], '25.0 (1 seed)');
  assert.equal(rows.find((r) => r.method === 'CDEP')!['ColorMNIST: study'], 'not run');

  // the same rows as docs/results.md's generated comparison section (only where the file has its markers)
  const md = path.join(dir, 'results.md');
  fs.writeFileSync(md, 'no markers here\n');
  assert.equal(experiments.updateComparisonMarkdown(dir, md), false);
  assert.equal(fs.readFileSync(md, 'utf8'), 'no markers here\n');
  fs.writeFileSync(md, `text\n${experiments.COMPARISON_BEGIN}\nold\n${experiments.COMPARISON_END}\nmore\n`);
  assert.equal(experiments.updateComparisonMarkdown(dir, md), true);
  const text = fs.readFileSync(md, 'utf8');
  assert.match(text, /\| Expected Gradients penalty \| 10\.0 ± 0\.0 \| 20\.0 ± 14\.1 \(2 seeds\) \| 97\.8 ± 0\.2 \| not run \|/);
  assert.ok(!text.includes('old') && text.startsWith('text\n') && text.endsWith(`${experiments.COMPARISON_END}\nmore\n`));
});

test('the harder benchmark (Fashion under the frame decoy and the colour rule): its rows from the committed study, its markdown section', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ltl-harder-'));
  const put = (dataset: string, row: string, seed: number, test: number) => {
    const config = resolveConfig({ dataset, method: 'vanilla', prompt: 'clothing', seed });
    fs.mkdirSync(path.join(dir, dataset, row, `seed-${seed}`), { recursive: true });
    fs.writeFileSync(path.join(dir, dataset, row, `seed-${seed}`, 'result.json'), JSON.stringify({ config, selectBy: 'val-rr', selectedEpoch: 3, valAccSelected: 0.9, testAccSelected: test, testAccFinal: 0, epochs: [] }));
  };
  put('decoyfashion-hard', 'rrr-prompt', 1, 0.7);
  put('decoyfashion-hard', 'rrr-prompt', 2, 0.8);
  put('colorfashion', 'vanilla', 1, 0.1);
  put('decoymnist-hard', 'rrr-prompt', 1, 0.99); // another dataset: not in this table
  const rows = experiments.harderBenchmarkRows(dir);
  assert.deepEqual(rows.map((r) => r.method), experiments.HARDER_BENCHMARK_ROWS.map((r) => r.method));
  const rrr = rows.find((r) => r.method === 'RRR with prompt masks (ours)')!;
  assert.equal(rrr['Fashion + frame decoy (decoyfashion-hard)'], '75.0 ± 7.1 (2 seeds)');
  assert.equal(rrr['Fashion + colour rule (colorfashion)'], 'not run');
  assert.equal(rows.find((r) => r.method === 'Vanilla (no penalty)')!['Fashion + colour rule (colorfashion)'], '10.0 (1 seed)');
  const shared = rows.find((r) => r.method.includes('--negative-region shared'))!;
  assert.deepEqual([shared['Fashion + frame decoy (decoyfashion-hard)'], shared['Fashion + colour rule (colorfashion)']], ['not run', '—'], 'the frame set only');

  const md = path.join(dir, 'results.md');
  fs.writeFileSync(md, 'no markers here\n');
  assert.equal(experiments.updateHarderBenchmarkMarkdown(dir, md), false);
  fs.writeFileSync(md, `text\n${experiments.HARDER_BEGIN}\nold\n${experiments.HARDER_END}\nmore\n`);
  assert.equal(experiments.updateHarderBenchmarkMarkdown(dir, md), true);
  const text = fs.readFileSync(md, 'utf8');
  assert.match(text, /\| RRR with prompt masks \(ours\) \| 75\.0 ± 7\.1 \(2 seeds\) \| not run \|/);
  assert.ok(!text.includes('\nold\n') && text.endsWith(`${experiments.HARDER_END}\nmore\n`));
});

test('result tables: mean +- std over seeds, published numbers beside ours', () => {
  const run = (dataset: string, label: string, seed: number, test: number) => ({
    label, dir: '', config: { dataset, seed } as any,
    result: { valAccSelected: 0.99, testAccSelected: test, testAccFinal: test, selectedEpoch: 2, imagesPerSecond: 1000 } as any,
  });
  const runs = [run('colormnist', 'align', 37, 0.1), run('colormnist', 'align', 38, 0.3), run('decoymnist', 'vanilla', 37, 0.9)];
  const rows = experiments.resultRows(runs);
  assert.equal(rows.length, 2);
  assert.equal(rows[0]['test acc % (selected epoch)'], '20.0 ± 14.1');
  assert.equal(rows[0]['selected epoch'], '3, 3');
  const cmp = experiments.comparisonRows(runs, { align: 'Learning to Look (paper)', vanilla: 'Vanilla (no penalty)' });
  const ltl = cmp.find((r) => r.method === 'Learning to Look (paper)')!;
  assert.equal(ltl['ColorMNIST: paper'], '64.88');
  assert.equal(ltl['ColorMNIST: ours'], '20.0 ± 14.1');
  assert.equal(ltl['DecoyMNIST: ours'], 'not run');
  assert.equal(cmp.find((r) => r.method === 'Vanilla (no penalty)')!['DecoyMNIST: ours'], '90.0');
});

test('stored maps and the prompt study are cached on disk and reused', async () => {
  const { OracleGenerator } = await import('../lib/maps');
  const old = process.env.LTL_CACHE_DIR;
  process.env.LTL_CACHE_DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'ltl-cache-'));
  try {
    const ds = loadDataset('decoymnist', { cacheDir: report.dataCacheDir() });
    const gen = new OracleGenerator();
    const p = { prompt: 'a digit', background: ['background'] };
    const a = await experiments.storeTrainingMaps(gen, ds, p, 300);
    assert.equal(a.images, 300);
    assert.ok(fs.existsSync(a.file));
    assert.ok(a.bytesPerMap >= 784 && a.bytesPerMap < 784 + 10, `bytes/map ${a.bytesPerMap}`);
    const b = await experiments.storeTrainingMaps(gen, ds, p, 300);
    assert.equal(b.file, a.file);
    assert.equal(b.generateSeconds, a.generateSeconds, 'second call reuses the store');
    // a ranked prompt (with its score) is the same prompt: same store
    const ranked = { ...p, meanScore: 0.9 };
    assert.equal((await experiments.trainingMapsFile(gen, ds, ranked, 300)).file, a.file);
    assert.ok((await experiments.pngBytesPerMap(a.file, 20)) > 50);
    const cost = experiments.mapCostPerEpoch(a, 1000, 5);
    assert.ok(Math.abs(cost[2]['total s'] - 5 * cost[1]['total s']) < 1e-9);
    const prof = { ...experiments.PROFILES.quick, promptImages: 40 };
    const cands = [{ prompt: 'one', background: [] }, { prompt: 'two', background: [] }];
    const s1 = await experiments.promptStudy(gen, [ds], prof, cands);
    assert.equal(s1.rows.length, 2);
    assert.equal(s1.chosen.prompt, 'one'); // oracle maps ignore the prompt: a tie keeps the given order
    assert.ok(s1.rows[0].digitMass > 0.99);
    const s2 = await experiments.promptStudy(gen, [ds], prof, cands);
    assert.deepEqual(s2, s1);
  } finally {
    if (old === undefined) delete process.env.LTL_CACHE_DIR;
    else process.env.LTL_CACHE_DIR = old;
  }
});

test('a diverged run is reported with its completed epochs', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ltl-div-'));
  const rec = (epoch: number, valAcc: number, testAcc: number) => ({ epoch, valAcc, valScore: valAcc, testAcc, imagesPerSecond: 100, seconds: 1 });
  // The completed epochs come from the (checksummed) checkpoint the diverged run kept.
  writeCheckpoint(path.join(dir, 'checkpoint.safetensors'), { epoch: 1, rng: { seed: 0, nextEpoch: 2 }, history: [rec(0, 0.5, 0.2), rec(1, 0.7, 0.1)], trainSeconds: 2, imagesTrained: 0 }, { weights: {}, slots: {}, step: 0 });
  const r = experiments.partialResult({ select: 'val-acc' } as any, dir)!;
  assert.equal(r.selectedEpoch, 1);
  assert.equal(r.testAccSelected, 0.1);
  assert.equal(experiments.partialResult({ select: 'val-acc' } as any, path.join(dir, 'none')), undefined);
  const rows = experiments.resultRows([{ label: 'RRR', dir, config: { dataset: 'colormnist' } as any, result: r, diverged: 'training diverged' }]);
  assert.match(String(rows[0].method), /RRR \(diverged in 1 of 1 seed/);
});

test('prompt choice: best mean score, near-ties broken by IoU', () => {
  const ps = [{ prompt: 'a', background: [] }, { prompt: 'b', background: [] }, { prompt: 'c', background: [] }];
  const row = (prompt: string, score: number, iou: number) => ({ dataset: 'd', prompt, score, iou, digitMass: score, decoyMass: 0, uniformDigitMass: 0.4, mapsPerSecond: 1 });
  const rows = [row('"a" (default background)', 0.9995, 0.5), row('"b" (default background)', 1.0, 0.7), row('"c" (default background)', 0.9, 0.99)];
  assert.equal(experiments.choosePrompt(rows, ps).prompt, 'b');
  assert.equal(experiments.choosePrompt(rows, ps, 0).prompt, 'b');
  rows[1].score = 0.99;
  assert.equal(experiments.choosePrompt(rows, ps).prompt, 'a');
});
