import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadDataset } from '../lib/data';
import { decodePng } from '../lib/util/png';
import { loadMapStore, MapStoreReader, expectForSplit } from '../lib/maps/store';
import { buildTargets } from '../lib/train/targets';

const ltl = path.join(__dirname, '..', 'bin', 'ltl.js');
const run = (...args: string[]) => spawnSync(process.execPath, [ltl, ...args], { encoding: 'utf8', env: { ...process.env, LTL_MNIST_DIR: '' } });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ltl-maps-cli-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
const lastJson = (out: string) => JSON.parse(out.trim().split('\n').pop()!);

test('ltl maps --generator oracle writes a file the trainer reads, PNGs and metrics', async () => {
  const out = path.join(tmp, 'oracle-train.ltlmaps');
  const png = path.join(tmp, 'png');
  const r = run('maps', '--dataset', 'decoymnist', '--split', 'train', '--generator', 'oracle', '--limit', '40', '--out', out, '--export-png', png, '--json');
  assert.equal(r.status, 0, r.stderr);
  const j = lastJson(r.stdout);
  assert.equal(j.count, 40); assert.equal(j.bytesPerMap, 784); assert.ok(j.mapsPerSecond > 0);
  assert.equal(j.quality.digitMass, 1); assert.equal(j.quality.iou, 1);
  assert.ok(j.quality.decoyMass < 0.01);
  const ds = loadDataset('decoymnist');
  // what the trainer does with a map file: validated against the loaded dataset, same targets as built-in oracle
  const stored = loadMapStore(out, expectForSplit(ds, 'train', { covers: 40 }));
  assert.equal(stored.header.generator, 'oracle');
  assert.deepEqual([...stored.maps.data], [...ds.train.digitMasks.subarray(0, 40 * 784)]);
  const spec = { postprocess: 'paper' as const, threshold: 0.5, seed: 0, grid: { height: 10, width: 10 } };
  const fromFile = await buildTargets({ ...spec, maps: out }, ds, ds.train, 40);
  const builtin = await buildTargets({ ...spec, maps: 'oracle' }, ds, ds.train, 40);
  assert.ok(fromFile && builtin);
  assert.deepEqual([...fromFile!.data], [...builtin!.data]);
  // a file of 40 maps does not cover 41 images
  assert.throws(() => MapStoreReader.open(out, expectForSplit(ds, 'train', { covers: 41 })), /no map for image 40/);
  // the PNGs: {index}.png, grey 28x28, 255 on the digit
  assert.equal(fs.readdirSync(png).length, 40);
  const p = await decodePng(path.join(png, '7.png'));
  assert.equal(p.width, 28);
  for (let i = 0; i < 784; i++) assert.equal(p.rgba[4 * i], ds.train.digitMasks[7 * 784 + i] * 255);
});

test('ltl maps: random is seeded; bad input is a one-line error', () => {
  const a = path.join(tmp, 'r1'), b = path.join(tmp, 'r2');
  for (const f of [a, b]) assert.equal(run('maps', '--dataset', 'colormnist', '--split', 'val', '--generator', 'random', '--seed', '5', '--limit', '10', '--out', f).status, 0);
  assert.deepEqual([...loadMapStore(a).maps.data], [...loadMapStore(b).maps.data]);
  const bad = run('maps', '--dataset', 'decoymnist', '--generator', 'nope', '--out', path.join(tmp, 'x'));
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /ltl: error: unknown map generator 'nope'/);
  const noModel = run('maps', '--dataset', 'decoymnist', '--generator', 'clipseg', '--model-dir', path.join(tmp, 'none'), '--out', path.join(tmp, 'x'));
  assert.equal(noModel.status, 1);
  assert.match(noModel.stderr, /--model-dir .* does not exist/);
  const lim = run('maps', '--dataset', 'decoymnist', '--generator', 'oracle', '--limit', '0', '--out', path.join(tmp, 'x'));
  assert.equal(lim.status, 1);
  assert.match(lim.stderr, /--limit must be an integer >= 1/);
});
