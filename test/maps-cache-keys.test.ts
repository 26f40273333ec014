import { test, before } from 'node:test';
import * as assert from 'node:assert/strict';
import { initBackend } from '../lib/backend';
import * as fs from 'node:fs';
import { UserError } from '../lib/util/errors';
import { loadDataset, subsetSplit } from '../lib/data';
import { splitMaps } from '../lib/train/split-maps';
import { tmpDirs } from './tmp-helpers';
import '../lib/vlm/register'; // provides the VLM map sources (embedded, clipseg), as the package's entry points do

/**
 * The cache keys of the training maps of prompts already in use (data/cache/maps/<dataset>-<split>-embedded-<key16>): a
 * change of how the key is computed would silently orphan every cache (hours of VLM maps on full splits), so the keys
 * are pinned here. The literals are the keys in the headers of caches made before the map sources moved to lib/maps
 * (committed VLM checkpoint data/vlm); 'a figure' (an untaught word, read through WordNet) keys on its reading.
 */
const PINNED: Array<{ dataset: string; split: 'train' | 'val'; prompt: string; key: string }> = [
  { dataset: 'decoymnist', split: 'train', prompt: 'a digit', key: 'd7d8a893f28f0e0f72f8a15ec1902afbc3ef7eb267354cdcbcc54bb84857695a' },
  { dataset: 'decoymnist', split: 'val', prompt: 'a digit', key: '05920fa4768ba27cece385913b9050686af698a71149b2bd7a9ce579d7bd9bc7' },
  { dataset: 'decoymnist-hard', split: 'train', prompt: 'a frame', key: '1505c88ac35db2493d450c1f375e9bf776a6a6e92fdcbb2a059baa5b7d69a148' },
  { dataset: 'colorfashion', split: 'val', prompt: 'clothing', key: '55a197782ed86f3728b3dacd444fb082f48d243ae81d3c63fdb142c62fbfc32b' },
  { dataset: 'decoymnist', split: 'train', prompt: 'a figure', key: 'e719e638acf7ef36b19078cf835395c06b57a41f64a0ec2ecec520c0e012b749' },
];

const tmp = tmpDirs('ltl-keys-');
before(async () => { await initBackend('wasm'); });

test('map cache keys of existing prompts stay as they were (existing caches stay valid)', async () => {
  const cacheDir = tmp();
  for (const p of PINNED) {
    const ds = loadDataset(p.dataset);
    const got = await splitMaps({ maps: 'embedded', prompt: p.prompt, role: 'positive', seed: 1, cacheDir }, ds, subsetSplit(ds[p.split], [0, 1]), 2);
    assert.equal(got?.provenance.cacheKey, p.key, `${p.dataset} ${p.split} ${JSON.stringify(p.prompt)}`);
    assert.ok(got!.provenance.file!.endsWith(`${p.dataset}-${p.split}-embedded-${p.key.slice(0, 16)}.maps.safetensors`));
  }
});

test('a map cache file whose name a folder took is one line naming it, not an internal error', async () => {
  const cacheDir = tmp();
  const ds = loadDataset('decoymnist');
  const split = subsetSplit(ds.train, [0, 1]);
  const req = { maps: 'embedded', prompt: 'a digit', role: 'positive' as const, seed: 1, cacheDir };
  const file = (await splitMaps(req, ds, split, 2))!.provenance.file!;
  fs.rmSync(file);
  fs.mkdirSync(file);
  await assert.rejects(splitMaps(req, ds, split, 2), (e: unknown) => e instanceof UserError && e.message === `map cache ${file} is a folder, not a map file: move it away or delete it (the maps are then made again)`);
});
