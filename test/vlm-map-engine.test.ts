import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { initBackend } from '../lib/backend';
import { loadDataset } from '../lib/data';
import type { ImageSplit } from '../lib/data/types';
import { CachedMapSource } from '../lib/maps/source';
import { quantizeMaps } from '../lib/maps/store';
import type { MapBatch } from '../lib/maps/types';
import { EmbeddedGenerator, promptMaps } from '../lib/vlm/embedded/generator';
import { gatherBlock } from '../lib/vlm/embedded/image-block';
import { PatchCache } from '../lib/vlm/embedded/patch-cache';
import { tmpDirs } from './tmp-helpers';

/**
 * The generator's fast path (map-engine.ts: encoder workers, patch cache, several prompts per pass) against
 * the plain tfjs path (promptMaps), on the committed checkpoint: the maps must be the same floats, so the
 * same uint8 maps, whatever the workers, batch sizes and caches.
 */
const newDir = tmpDirs('ltl-vlm-engine-');
const made: EmbeddedGenerator[] = [];
after(() => {
  for (const g of made) g.dispose();
});
const gen = (o: ConstructorParameters<typeof EmbeddedGenerator>[0] = {}) => {
  const g = new EmbeddedGenerator({ warn: () => undefined, ...o });
  made.push(g);
  return g;
};

let hard: ImageSplit;
let colour: ImageSplit;
let fashion: ImageSplit;
before(async () => {
  await initBackend('wasm');
  hard = loadDataset('decoymnist-hard').train;
  colour = loadDataset('colormnist').train;
  fashion = loadDataset('decoyfashion-hard').train;
});

/** Indices 0..n-1 with a few repeats and out-of-order entries (maps follow the request's order). */
const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);

function plain(g: EmbeddedGenerator, split: ImageSplit, idx: number[], prompt: string, batchSize = 256): MapBatch {
  const { model, vocab } = g.load();
  const d = g.defaults;
  return promptMaps(model, vocab, split, idx, { prompt, background: d.background, temperature: d.temperature, batchSize });
}

function assertSameMaps(got: MapBatch, want: MapBatch, what: string): void {
  assert.equal(got.count, want.count, what);
  let floats = 0;
  for (let i = 0; i < want.data.length; i++) if (got.data[i] !== want.data[i]) floats++;
  assert.equal(floats, 0, `${what}: ${floats} map values differ from the plain path`);
  assert.deepEqual(quantizeMaps(got.data), quantizeMaps(want.data), `${what}: uint8 maps differ`);
}

test('worker-encoded maps are the plain path\'s, bit for bit (decoymnist-hard, colormnist, fashion; several batch sizes)', async () => {
  const g = gen({ workers: 2, patchMemoryBytes: 0 });
  assert.equal(await g.startWorkers(), true, 'the encoder workers start');
  const idx = [...range(300), 7, 3]; // a repeat and an out-of-order tail
  for (const [split, prompt] of [[hard, 'a digit'], [hard, 'a frame'], [colour, 'a digit'], [fashion, 'clothing']] as const) {
    const want = plain(g, split, idx, prompt);
    assertSameMaps(await g.generate({ split, indices: idx, prompt }), want, `${prompt}, workers, batch 256`);
  }
  assert.equal(g.engine.stats.encodedHere, 0, 'the workers encoded every image');
  assert.ok(g.engine.stats.encodedByWorkers >= 4 * 302);
  // Other block and job sizes (a block of 100 is cut into jobs of 50 per worker) and the plain path's own batch size.
  const other = gen({ workers: 2, batchSize: 100, patchMemoryBytes: 0 });
  await other.startWorkers();
  const want = plain(g, hard, idx, 'a digit', 37);
  assertSameMaps(await other.generate({ split: hard, indices: idx, prompt: 'a digit' }), want, 'workers, batch 100 vs plain batch 37');
  const here = gen({ workers: 0, batchSize: 64, patchMemoryBytes: 0 });
  assertSameMaps(await here.generate({ split: hard, indices: idx, prompt: 'a digit' }), want, 'this thread, batch 64');
  assert.equal(here.engine.stats.encodedByWorkers, 0);
});

test('a request starts the workers and uses them once they are up, without anyone waiting for them (as splitMaps calls it)', async () => {
  // CachedMapSource asks for 128 images at a time; the first blocks are encoded on this thread while the
  // workers start. Their 'ready' message must get through even though nothing here awaits a timer.
  const g = gen({ workers: 2, patchMemoryBytes: 0 });
  const source = new CachedMapSource(g, { split: hard, dataset: 'decoymnist-hard', datasetChecksum: 'x', prompt: 'a digit', background: g.defaults.background, batchSize: 128 });
  const t0 = Date.now();
  let from = 0;
  while (g.engine.stats.encodedByWorkers === 0 && Date.now() - t0 < 180_000 && from + 128 <= hard.count) {
    await source.get(range(128, from));
    from += 128;
  }
  assert.ok(g.engine.stats.encodedByWorkers > 0, `after ${from} images on this thread, the workers never took a block`);
  assert.deepEqual(quantizeMaps((await source.get(range(from))).data), quantizeMaps(plain(g, hard, range(from), 'a digit').data));
});

test('several prompts in one pass give each prompt\'s own maps; the memory tier serves a new prompt without the encoder', async () => {
  const g = gen({ workers: 0 });
  const idx = range(200, 1000);
  const [digit, frame] = await g.generatePrompts({ split: hard, indices: idx }, [{ prompt: 'a digit' }, { prompt: 'a frame' }]);
  assert.equal(g.engine.stats.encodedHere, 200, 'one encoding for both prompts');
  assertSameMaps(digit, plain(g, hard, idx, 'a digit'), 'a digit (one pass)');
  assertSameMaps(frame, plain(g, hard, idx, 'a frame'), 'a frame (one pass)');
  const again = await g.generate({ split: hard, indices: idx, prompt: 'a shape' });
  assert.equal(g.engine.stats.encodedHere, 200, 'a new prompt on encoded images encodes nothing');
  assert.equal(g.engine.stats.cachedBlocks, 1);
  assertSameMaps(again, plain(g, hard, idx, 'a shape'), 'a shape (from the memory tier)');
  // A budget too small for a block keeps nothing.
  const none = gen({ workers: 0, patchMemoryBytes: 1000 });
  await none.generate({ split: hard, indices: range(10), prompt: 'a digit' });
  await none.generate({ split: hard, indices: range(10), prompt: 'a digit' });
  assert.equal(none.engine.stats.encodedHere, 20);
});

test('CachedMapSource.fill: one pass for several prompts, the maps get() would make', async () => {
  const g = gen({ workers: 0, patchMemoryBytes: 0 });
  const opts = { split: hard, dataset: 'decoymnist-hard', datasetChecksum: 'x', background: g.defaults.background, batchSize: 64 };
  const a = new CachedMapSource(g, { ...opts, prompt: 'a digit' });
  const b = new CachedMapSource(g, { ...opts, prompt: 'a frame' });
  await a.get(range(10)); // a holds 10 maps already: fill makes only what each source lacks
  await CachedMapSource.fill([a, b], range(150));
  assert.equal(g.engine.stats.encodedHere, 10 + 150, 'the 150 images encoded once for both prompts');
  assert.equal(a.stats.generated, 150);
  assert.equal(b.stats.generated, 150);
  const want = new CachedMapSource(gen({ workers: 0, patchMemoryBytes: 0 }), { ...opts, prompt: 'a frame' });
  assert.deepEqual((await b.get(range(150))).data, (await want.get(range(150))).data);
  // get() returns the stored uint8 maps as floats: equal bytes are equal maps
  assert.deepEqual(quantizeMaps((await a.get(range(150))).data), quantizeMaps(plain(g, hard, range(150), 'a digit').data));
});

test('disk patch cache: checked files, reused by a new generator; a damaged file is remade, never a different map', async () => {
  const dir = newDir();
  const idx = range(130, 5000);
  const warnings: string[] = [];
  const first = gen({ workers: 0, batchSize: 64, patchMemoryBytes: 0, patchCacheDir: dir, warn: (m) => warnings.push(m) });
  const want = plain(first, colour, idx, 'a digit');
  assertSameMaps(await first.generate({ split: colour, indices: idx, prompt: 'a digit' }), want, 'first pass (writes the cache)');
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.patches.safetensors')).sort();
  assert.equal(files.length, 3, 'one file per block of 64 (64 + 64 + 2 images)');
  assert.equal(first.engine.cache.stats.diskWrites, 3);

  const second = gen({ workers: 0, batchSize: 64, patchMemoryBytes: 0, patchCacheDir: dir, warn: (m) => warnings.push(m) });
  assertSameMaps(await second.generate({ split: colour, indices: idx, prompt: 'a digit' }), want, 'second generator, from disk');
  assert.equal(second.engine.stats.encodedHere, 0, 'nothing encoded: every block read from disk');
  assert.equal(second.engine.cache.stats.diskHits, 3);
  assertSameMaps(await second.generate({ split: colour, indices: idx, prompt: 'a square' }), plain(first, colour, idx, 'a square'), 'a new prompt from disk');

  // Damage: one flipped byte in the floats of one file, and another file cut short.
  const flipped = path.join(dir, files[0]);
  const buf = fs.readFileSync(flipped);
  buf[buf.length - 100] ^= 0x40;
  fs.writeFileSync(flipped, buf);
  fs.truncateSync(path.join(dir, files[1]), 1000);
  const third = gen({ workers: 0, batchSize: 64, patchMemoryBytes: 0, patchCacheDir: dir, warn: (m) => warnings.push(m) });
  assertSameMaps(await third.generate({ split: colour, indices: idx, prompt: 'a digit' }), want, 'with damaged cache files');
  assert.equal(third.engine.cache.stats.damaged, 2);
  assert.equal(third.engine.stats.encodedHere, 128, 'the two damaged blocks were encoded again');
  assert.equal(warnings.filter((w) => /patch cache file .* is unusable/.test(w)).length, 2);
  // ... and written again: a fourth generator reads all three.
  const fourth = gen({ workers: 0, batchSize: 64, patchMemoryBytes: 0, patchCacheDir: dir });
  assertSameMaps(await fourth.generate({ split: colour, indices: idx, prompt: 'a digit' }), want, 'after the rewrite');
  assert.equal(fourth.engine.cache.stats.diskHits, 3);
  assert.equal(fourth.engine.stats.encodedHere, 0);
});

test('patch cache keys: the images\' bytes and what computes on them, not where the images come from', () => {
  const id = { checkpoint: 'c', backend: 'wasm' };
  const a = gatherBlock(hard, [1, 2, 3]);
  assert.equal(PatchCache.key(id, a), PatchCache.key(id, gatherBlock(hard, [1, 2, 3])));
  assert.notEqual(PatchCache.key(id, a), PatchCache.key(id, gatherBlock(hard, [1, 2, 4])));
  assert.notEqual(PatchCache.key(id, a), PatchCache.key(id, gatherBlock(hard, [2, 1, 3])));
  assert.notEqual(PatchCache.key(id, a), PatchCache.key({ ...id, checkpoint: 'd' }, a));
  assert.notEqual(PatchCache.key(id, a), PatchCache.key({ ...id, backend: 'cpu' }, a));
});

test('worker and memory settings: env and options are checked', () => {
  const old = process.env.LTL_MAP_WORKERS;
  process.env.LTL_MAP_WORKERS = 'two';
  try {
    assert.throws(() => new EmbeddedGenerator().engine, /LTL_MAP_WORKERS must be an integer >= 0, not 'two'/);
  } finally {
    if (old === undefined) delete process.env.LTL_MAP_WORKERS; else process.env.LTL_MAP_WORKERS = old;
  }
  assert.throws(() => new EmbeddedGenerator({ workers: -1 }).engine, /workers must be an integer >= 0/);
  assert.throws(() => new EmbeddedGenerator({ patchMemoryBytes: 0.5 }).engine, /patch memory must be an integer >= 0/);
});
