import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { initBackend } from '../lib/backend';
import { COLOR_PALETTE, buildFromBase, colorRule, loadDataset, loadMnist, type ShortcutRule } from '../lib/data';
import { colorChannel } from '../lib/data/shortcuts/color';
import { cacheSource, loadCached, saveCached } from '../lib/data/cache';
import { MapStoreReader, writeMapStore } from '../lib/maps/store';
import { EmbeddedGenerator, defaultCheckpointDir, loadCheckpoint } from '../lib/vlm/embedded';
import { planRuns, readState, runDir, runSweep } from '../lib/experiments/sweep/runner';
import { loadSweep } from '../lib/experiments/sweep/report';
import { cachedJson } from '../lib/experiments/cache';
import { writeSealedJson } from '../lib/util/sealed';
import { UserError } from '../lib/util/errors';
import { jsonMetadata, readTensorFile, writeTensorFile } from '../lib/util/tensor-file';
import { tmpDirs } from './tmp-helpers';
import { flipBit, ltl, oneLineError, seededFlips } from './fault-helpers';

/**
 * Fault injection for every other artifact the project writes (map stores, dataset caches, the VLM
 * checkpoint, sweep state, notebook caches): a bit flipped at seeded random offsets is an error
 * naming the file, or (for caches) the unchanged result. Plus the items 3, 9 and 11.
 */
const tmp = tmpDirs('ltl-rel-art-');
const decoy = loadDataset('decoymnist');
const FAKE = [process.execPath, path.join(__dirname, 'fixtures', 'fake-train.js')];

before(async () => { await initBackend('wasm'); });

test('map store: a bit flipped at any of 40 seeded offsets (plain and indexed files) is an error naming the file', () => {
  const dir = tmp();
  const meta = { dataset: decoy.name, split: 'train' as const, generator: 'oracle', prompt: '', background: [], datasetChecksum: decoy.checksum };
  const maps = { count: 20, height: 28, width: 28, data: Float32Array.from({ length: 20 * 784 }, (_, i) => (i % 97) / 97) };
  for (const [name, indices] of [['plain', undefined], ['indexed', Int32Array.from({ length: 20 }, (_, i) => 3 * i)]] as const) {
    const file = path.join(dir, `${name}.safetensors`);
    writeMapStore(file, meta, maps, indices);
    MapStoreReader.open(file).close();
    const good = fs.readFileSync(file);
    for (const { offset, bit } of seededFlips(`maps-${name}`, good.length, 20)) {
      fs.writeFileSync(file, good);
      flipBit(file, offset, bit);
      assert.throws(() => MapStoreReader.open(file).close(), (e: unknown) => e instanceof UserError && e.message.includes(file), `${name}: offset ${offset} bit ${bit}`);
    }
  }
});

test('dataset cache: a damaged cache is rebuilt (the unchanged dataset), and a cache made from another rule is never served', () => {
  const dir = tmp();
  const ref = loadDataset('decoymnist', { cacheDir: dir });
  const [file] = fs.readdirSync(dir).map((f) => path.join(dir, f));
  const good = fs.readFileSync(file);
  for (const { offset, bit } of seededFlips('dataset-cache', good.length, 4)) {
    fs.writeFileSync(file, good);
    flipBit(file, offset, bit);
    assert.equal(loadCached(dir, 'decoymnist', {}), undefined, `offset ${offset}: not served`);
    const ds = loadDataset('decoymnist', { cacheDir: dir });
    assert.equal(ds.checksum, ref.checksum);
    assert.deepEqual(ds.train.images.subarray(0, 5000), ref.train.images.subarray(0, 5000));
  }
  // An intact cache whose source (e.g. an older palette) differs from what the code builds now: ignored.
  saveCached(dir, ref, {});
  const cached = readTensorFile(file);
  const h = cached.json<{ source: any }>('dataset');
  h.source = { ...h.source, rule: { ...h.source.rule, fingerprint: 'an older palette' } };
  const { data_sha256: _d, header_sha256: _h, ...meta } = cached.metadata;
  writeTensorFile(file, cached.tensors, { ...meta, dataset: jsonMetadata(h) });
  assert.ok(readTensorFile(file), 'intact, with valid checksums');
  assert.equal(loadCached(dir, 'decoymnist', {}), undefined);
  // A cache of the previous format (*.ltlds, a background job may still write them) is neither read nor touched.
  const old = path.join(dir, `${path.basename(file).split('.')[0]}.ltlds`);
  fs.writeFileSync(old, 'LTLDS2 old cache');
  saveCached(dir, ref, {});
  assert.ok(loadCached(dir, 'decoymnist', {}));
  assert.equal(fs.readFileSync(old, 'utf8'), 'LTLDS2 old cache');
  // The colour rule's palette is part of what a ColorMNIST cache is made from.
  assert.ok(String((cacheSource('colormnist', {}).rule as any).fingerprint).includes(String(COLOR_PALETTE[1][0])));
});

test('VLM checkpoint: a bit flipped at any of 24 seeded offsets of its four files is an error naming the file', () => {
  const dir = path.join(tmp(), 'vlm');
  fs.cpSync(defaultCheckpointDir(), dir, { recursive: true });
  const files = ['model.json', 'weights.safetensors', 'vocab.json', 'meta.json'];
  const good = Object.fromEntries(files.map((f) => [f, fs.readFileSync(path.join(dir, f))]));
  loadCheckpoint(dir).model.dispose();
  let k = 0;
  for (const f of files) {
    for (const { offset, bit } of seededFlips(`vlm-${f}`, good[f].length, 6)) {
      for (const g of files) fs.writeFileSync(path.join(dir, g), good[g]);
      flipBit(path.join(dir, f), offset, bit);
      assert.throws(() => loadCheckpoint(dir).model.dispose(), (e: unknown) => e instanceof UserError && e.message.includes(dir), `${f}: offset ${offset} bit ${bit}`);
      k++;
    }
  }
  assert.equal(k, 24);
});

test('sweep state: flips in sweep.json, sweep-run.json, sweep-state.json and a sealed result.json are errors naming the file', async () => {
  const out = tmp();
  const grid = { dataset: 'decoymnist', method: ['vanilla', 'align'], epochs: 1 };
  const opts = { outDir: out, runs: planRuns([grid]), grids: [grid], workers: 1, trainCommand: FAKE, env: { ...process.env, FAKE_TRAIN_EPOCH_MS: '5' } };
  const first = await runSweep(opts);
  assert.equal(first.counts.done, 2);
  const [a, b] = opts.runs.map((r) => runDir(out, r.id));
  // A trainer's sealed result.json must match its checksum.
  const resultFile = path.join(a, 'result.json');
  writeSealedJson(resultFile, JSON.parse(fs.readFileSync(resultFile, 'utf8')));
  const files = [path.join(out, 'sweep.json'), path.join(a, 'sweep-run.json'), path.join(b, 'sweep-state.json'), resultFile];
  for (const file of files) {
    const good = fs.readFileSync(file);
    for (const { offset, bit } of seededFlips(file.slice(out.length), good.length, 6)) {
      fs.writeFileSync(file, good);
      flipBit(file, offset, bit);
      let named = false;
      try {
        const s = loadSweep(out);
        named = s.runs.some((r) => r.status === 'failed' && (r.error ?? '').includes(file));
      } catch (e) {
        named = e instanceof UserError && e.message.includes(file);
      }
      assert.ok(named, `${file}: offset ${offset} bit ${bit}`);
    }
    fs.writeFileSync(file, good);
  }
  assert.equal(loadSweep(out).runs.filter((r) => r.status === 'done').length, 2);
  // In the runner: a damaged plan stops the sweep with its name; a damaged state fails only its run.
  const planFile = path.join(out, 'sweep.json');
  const plan = fs.readFileSync(planFile);
  flipBit(planFile, 20, 2);
  await assert.rejects(runSweep(opts), (e: unknown) => e instanceof UserError && e.message.includes(planFile));
  fs.writeFileSync(planFile, plan);
  flipBit(path.join(b, 'sweep-state.json'), 30, 1);
  fs.rmSync(path.join(b, 'result.json'));
  const again = await runSweep(opts);
  const bad = again.outcomes.find((o) => o.status === 'failed')!;
  assert.match(bad.error ?? '', /sweep state .*sweep-state\.json is corrupt.*delete it to rerun this run/);
});

test('9: ltl sweep prints why a run failed, not only its exit code', () => {
  const dir = tmp();
  const grid = path.join(dir, 'grid.json');
  // a map source the grid cannot check (it checks dataset names) but the run refuses
  fs.writeFileSync(grid, JSON.stringify({ dataset: 'decoymnist', method: 'align', maps: 'nosuchmaps', epochs: 1, limit: 100 }));
  const r = ltl(['sweep', '--grid', grid, '--out', path.join(dir, 'sw')]);
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stdout, /^failed decoymnist_align_nosuchmaps\S*: exit code 1: error: --maps: 'nosuchmaps' is neither one of /m);
  assert.match(r.stderr, /failed decoymnist_align_nosuchmaps\S* [\d.]+ s: exit code 1: error: --maps: 'nosuchmaps' is neither/);
});

test('9: a run finished by an orphaned trainer is settled by the next sweep: state done, lock removed', async () => {
  const out = tmp();
  const grid = { dataset: 'decoymnist', epochs: 1 };
  const opts = { outDir: out, runs: planRuns([grid]), grids: [grid], workers: 1, trainCommand: FAKE, env: { ...process.env, FAKE_TRAIN_EPOCH_MS: '5' } };
  await runSweep(opts);
  const dir = runDir(out, opts.runs[0].id);
  // What a worker killed while its trainer ran leaves once the orphaned trainer finished: result.json,
  // a state still 'running' and a lock naming processes that are gone.
  const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
  const st = readState(dir)!;
  writeSealedJson(path.join(dir, 'sweep-state.json'), { ...st, status: 'running', history: [{ ...st.history[0], status: 'running' }] });
  fs.writeFileSync(path.join(dir, 'sweep.lock'), JSON.stringify({ pid: dead, childPid: dead, hostname: require('node:os').hostname(), startedAt: new Date().toISOString(), heartbeat: Date.now(), token: 'gone' }));
  const again = await runSweep(opts);
  assert.equal(again.counts['skipped-done'], 1);
  const settled = readState(dir)!;
  assert.equal(settled.status, 'done');
  assert.equal(settled.history[settled.history.length - 1].status, 'done');
  assert.match(settled.note ?? '', /orphan|worker .* was gone/);
  assert.ok(!fs.existsSync(path.join(dir, 'sweep.lock')), 'lock removed');
});

test('notebook cache: a damaged cached result is recomputed, never served', async () => {
  const old = process.env.LTL_CACHE_DIR;
  process.env.LTL_CACHE_DIR = tmp();
  try {
    let calls = 0;
    const compute = () => { calls++; return { acc: 0.9731, list: [1, 2, 3] }; };
    assert.deepEqual(await cachedJson('rel', { k: 1 }, compute), { acc: 0.9731, list: [1, 2, 3] });
    assert.deepEqual(await cachedJson('rel', { k: 1 }, compute), { acc: 0.9731, list: [1, 2, 3] });
    assert.equal(calls, 1);
    const [file] = fs.readdirSync(path.join(process.env.LTL_CACHE_DIR, 'rel')).map((f) => path.join(process.env.LTL_CACHE_DIR!, 'rel', f));
    const good = fs.readFileSync(file);
    for (const { offset, bit } of seededFlips('notebook-cache', good.length, 8)) {
      fs.writeFileSync(file, good);
      flipBit(file, offset, bit);
      assert.deepEqual(await cachedJson('rel', { k: 1 }, compute), { acc: 0.9731, list: [1, 2, 3] });
    }
    assert.equal(calls, 9);
  } finally {
    if (old === undefined) delete process.env.LTL_CACHE_DIR;
    else process.env.LTL_CACHE_DIR = old;
  }
});

test('3: a prompt with no known word is an error unless allowed; unknown words get a warning naming them', async () => {
  const split = decoy.val;
  const indices = [0, 1, 2, 3];
  const gen = new EmbeddedGenerator();
  try {
    for (const prompt of ['', 'xylophone quux blorf', '\u{1F3B9}\u{1F3BA}\u{1F3B8}']) {
      await assert.rejects(gen.generate({ split, indices, prompt }),
        (e: unknown) => e instanceof UserError && /has no (word the embedded VLM knows|words)/.test(e.message) && /--allow-unknown-prompt/.test(e.message), JSON.stringify(prompt));
    }
    await assert.rejects(gen.generate({ split, indices, prompt: 'a digit', background: ['quux'] }), /background prompt "quux" has no word/);
    // Why: all three give the very same map. Allowed, they do, with a warning.
    const warnings: string[] = [];
    const loose = new EmbeddedGenerator({ allowUnknownPrompt: true, warn: (m) => warnings.push(m) });
    const maps = [];
    for (const prompt of ['', 'xylophone quux blorf', '\u{1F3B9}\u{1F3BA}\u{1F3B8}']) maps.push((await loose.generate({ split, indices, prompt })).data);
    assert.deepEqual(maps[1], maps[0]);
    assert.deepEqual(maps[2], maps[0]);
    assert.equal(warnings.length, 3);
    assert.match(warnings[1], /unknown: xylophone, quux, blorf/);
    // Some unknown words: maps are made, the warning names the words.
    const partial = await loose.generate({ split, indices, prompt: 'a xylophone digit' });
    assert.equal(partial.count, 4);
    assert.match(warnings[3], /does not know "xylophone"/);
    loose.dispose();
  } finally {
    gen.dispose();
  }
  const r = ltl(['maps', '--dataset', 'decoymnist', '--split', 'val', '--generator', 'embedded', '--prompt', 'xylophone quux blorf', '--limit', '4', '--out', path.join(tmp(), 'm.ltlmap')]);
  assert.match(oneLineError(r, assert), /prompt "xylophone quux blorf" has no word the embedded VLM knows \(unknown: xylophone, quux, blorf\)/);
});

/** The palette of python `colour` 0.1.5: [c.get_rgb() for c in Color('red').range_to(Color('purple'), 10)]. */
const COLOUR_LIBRARY_PALETTE = [
  [1.0, 0.0, 0.0], [0.9446623093681917, 0.5248123940934399, 0.0], [0.7905107722101186, 0.8893246187363835, 0.0],
  [0.2779956427015246, 0.8339869281045751, 0.0], [0.0, 0.7786492374727669, 0.17303316388283735],
  [0.0, 0.7233115468409586, 0.5625756475429681], [0.0, 0.4453159041394332, 0.6679738562091503],
  [0.0, 0.0680706850641486, 0.612636165577342], [0.24768821108690423, 0.0, 0.5572984749455338],
  [0.5019607843137255, 0.0, 0.5019607843137254],
];
/** The 4-decimal palette the project used before. */
const ROUNDED_PALETTE = [
  [1.0, 0, 0], [0.9447, 0.5248, 0], [0.7905, 0.8893, 0], [0.278, 0.834, 0], [0, 0.7786, 0.173],
  [0, 0.7233, 0.5626], [0, 0.4453, 0.668], [0, 0.0681, 0.6126], [0.2477, 0, 0.5573], [0.502, 0, 0.502],
];

test('11: the ColorMNIST palette is the colour library range in full precision; 15 channel values move, about half the images change', () => {
  assert.deepEqual(COLOR_PALETTE.map((c) => [...c]), COLOUR_LIBRARY_PALETTE);
  let moved = 0;
  for (let k = 0; k < 10; k++) for (let c = 0; c < 3; c++) for (let g = 0; g < 256; g++) {
    const rounded = Math.trunc(Math.min(255, g * ROUNDED_PALETTE[k][c]));
    const now = colorChannel(g, COLOR_PALETTE[k][c]);
    assert.ok(Math.abs(now - rounded) <= 1);
    if (now !== rounded) moved++;
  }
  assert.equal(moved, 15);
  // The reference end point: purple #800080 at full grey is 128, as 255 * 128/255 is.
  assert.equal(colorChannel(255, COLOR_PALETTE[9][2]), 128);
  // Built with the rounded palette, a good part of ColorMNIST's images differ from the reference.
  const mnist = loadMnist();
  const old: ShortcutRule = { ...colorRule, name: 'color', apply({ gray, label, reversed, out }) {
    const rgb = ROUNDED_PALETTE[reversed ? 9 - label : label];
    for (let i = 0; i < gray.length; i++) for (let c = 0; c < 3; c++) out[3 * i + c] = Math.trunc(Math.min(255, gray[i] * rgb[c]));
  } };
  const a = buildFromBase('colormnist', mnist, colorRule), b = buildFromBase('colormnist', mnist, old);
  let differ = 0;
  const n = a.test.count, px = 28 * 28 * 3;
  for (let i = 0; i < n; i++) {
    const x = a.test.images.subarray(i * px, (i + 1) * px), y = b.test.images.subarray(i * px, (i + 1) * px);
    if (x.some((v, j) => v !== y[j])) differ++;
  }
  assert.ok(differ > 0.2 * n && differ < 0.8 * n, `${differ} of ${n} test images differ`);
  assert.notEqual(a.checksum, b.checksum);
  assert.equal(loadDataset('colormnist').checksum, a.checksum);
});
