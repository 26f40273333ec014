import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createGenerator, registerGenerator, listGenerators } from '../lib/maps/registry';
import { CachedMapSource } from '../lib/maps/source';
import { loadMapStore } from '../lib/maps/store';
import type { MapGenerator, MapRequest } from '../lib/maps/types';
import { UserError } from '../lib/util/errors';
import { tinySplit } from './maps-helpers';
import '../lib/vlm/register'; // provides the VLM map sources (embedded, clipseg), as the package's entry points do

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ltl-maps-gen-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

test('oracle returns the digit masks (and the decoy masks with target=shortcut)', async () => {
  const s = tinySplit(6);
  const g = await createGenerator('oracle');
  assert.equal(g.usesPrompt, false);
  const b = await g.generate({ split: s, indices: [4, 1], prompt: 'ignored' });
  assert.deepEqual([b.count, b.height, b.width], [2, 12, 12]);
  assert.deepEqual([...b.data.subarray(0, 144)], [...s.digitMasks.subarray(4 * 144, 5 * 144)]);
  assert.deepEqual([...b.data.subarray(144)], [...s.digitMasks.subarray(144, 288)]);
  const d = await (await createGenerator('oracle', { target: 'shortcut' })).generate({ split: s, prompt: '' });
  assert.deepEqual([...d.data], [...s.shortcutMasks!]);
  await assert.rejects((await createGenerator('oracle', { target: 'shortcut' })).generate({ split: tinySplit(2, { decoy: false }), prompt: '' }), UserError);
  await assert.rejects(g.generate({ split: s, indices: [6], prompt: '' }), /outside the train split/);
});

test('uniform is constant', async () => {
  const b = await (await createGenerator('uniform')).generate({ split: tinySplit(3), prompt: '' });
  assert.equal(b.count, 3);
  assert.ok(b.data.every((v) => v === 1));
  assert.ok((await (await createGenerator('uniform', { value: 0.25 })).generate({ split: tinySplit(1), prompt: '' })).data.every((v) => v === 0.25));
  await assert.rejects(createGenerator('uniform', { value: 2 }), UserError);
});

test('random maps: in [0,1], max 1, seeded, per-index (order independent), seed changes them', async () => {
  const s = tinySplit(8);
  for (const mode of ['blobs', 'noise']) {
    const g = await createGenerator('random', { mode });
    const a = await g.generate({ split: s, prompt: '', seed: 3 });
    assert.ok(a.data.every((v) => v >= 0 && v <= 1));
    const b = await g.generate({ split: s, indices: [5, 2], prompt: '', seed: 3 });
    assert.deepEqual([...b.data.subarray(0, 144)], [...a.data.subarray(5 * 144, 6 * 144)]);
    assert.deepEqual([...b.data.subarray(144)], [...a.data.subarray(2 * 144, 3 * 144)]);
    const c = await g.generate({ split: s, prompt: '', seed: 4 });
    assert.notDeepEqual([...c.data], [...a.data]);
    // two different images get different maps
    assert.notDeepEqual([...a.data.subarray(0, 144)], [...a.data.subarray(144, 288)]);
    if (mode === 'blobs') for (let i = 0; i < 8; i++) assert.equal(Math.max(...a.data.subarray(i * 144, (i + 1) * 144)), 1);
  }
  await assert.rejects(createGenerator('random', { mode: 'stripes' }), UserError);
});

test('registry: unknown names are UserErrors, plug-ins register without editing it', async () => {
  await assert.rejects(createGenerator('nope'), /unknown map generator 'nope'/);
  registerGenerator('halves', () => ({
    name: 'halves', usesPrompt: true,
    async generate(req: MapRequest) {
      const n = (req.indices ?? Array.from({ length: req.split.count }, (_, i) => i)).length;
      return { count: n, height: req.split.height, width: req.split.width, data: new Float32Array(n * req.split.height * req.split.width).fill(req.prompt.length % 2) };
    },
  }));
  assert.ok(listGenerators().includes('halves'));
  assert.ok(listGenerators().includes('embedded') && listGenerators().includes('clipseg'));
  assert.equal((await createGenerator('halves')).name, 'halves');
});

test('CachedMapSource: generates once, caches, flushes to a store and reloads from it', async () => {
  const s = tinySplit(10);
  let calls = 0, made = 0;
  const inner = await createGenerator('random');
  const counting: MapGenerator = { name: 'random', usesPrompt: false, async generate(req) { calls++; made += req.indices!.length; return inner.generate(req); } };
  const file = path.join(tmp, 'cache.ltlmaps');
  const src = new CachedMapSource(counting, { split: s, dataset: 'tiny', datasetChecksum: 'x', prompt: '', seed: 7, storeFile: file, batchSize: 3 });
  const a = await src.get([1, 3, 3, 8]);
  assert.equal(made, 3); assert.equal(calls, 1);
  const b = await src.get([8, 1, 0]);
  assert.equal(made, 4);
  assert.deepEqual([...b.data.subarray(0, 144)], [...a.data.subarray(3 * 144, 4 * 144)]);
  const st = src.stats;
  assert.equal(st.generated, 4); assert.equal(st.hits, 3); assert.equal(st.bytesPerMap, 144); assert.ok(st.mapsPerSecond > 0);
  src.flush();
  const stored = loadMapStore(file);
  assert.equal(stored.header.indexed, true);
  assert.deepEqual([...stored.indices], [0, 1, 3, 8]);
  // A new source reads the file and does not regenerate what it holds.
  made = 0;
  const src2 = new CachedMapSource(counting, { split: s, dataset: 'tiny', datasetChecksum: 'x', prompt: '', seed: 7, storeFile: file });
  const c = await src2.get([8, 1, 0, 2]);
  assert.equal(made, 1);
  assert.deepEqual([...c.data.subarray(0, 3 * 144)], [...b.data]);
  // all of 0..9 cached -> a plain (non-indexed) file
  await src2.get();
  src2.flush();
  assert.equal(loadMapStore(file).header.indexed, false);
  // the wrong dataset checksum or seed is refused
  assert.throws(() => new CachedMapSource(counting, { split: s, dataset: 'tiny', datasetChecksum: 'y', prompt: '', storeFile: file }), /checksum mismatch/);
  assert.throws(() => new CachedMapSource(counting, { split: s, dataset: 'tiny', datasetChecksum: 'x', prompt: '', seed: 8, storeFile: file }), /seed 7/);
  // provenance named by the caller must match the file's (key order aside)
  const withExtra = path.join(tmp, 'extra.ltlmaps');
  const e1 = new CachedMapSource(counting, { split: s, dataset: 'tiny', datasetChecksum: 'x', prompt: '', seed: 7, storeFile: withExtra, extra: { modelDir: '/a', mode: 'blobs' } });
  await e1.get([0, 1]);
  e1.flush();
  assert.ok(new CachedMapSource(counting, { split: s, dataset: 'tiny', datasetChecksum: 'x', prompt: '', seed: 7, storeFile: withExtra, extra: { mode: 'blobs', modelDir: '/a' } }).has(1));
  assert.throws(() => new CachedMapSource(counting, { split: s, dataset: 'tiny', datasetChecksum: 'x', prompt: '', seed: 7, storeFile: withExtra, extra: { modelDir: '/b', mode: 'blobs' } }), /made with \{"mode":"blobs","modelDir":"\/a"\}/);
  assert.throws(() => new CachedMapSource(counting, { split: s, dataset: 'tiny', datasetChecksum: 'x', prompt: '', seed: 7, storeFile: file, extra: { modelDir: '/a' } }), /made with \{\}/);
});
