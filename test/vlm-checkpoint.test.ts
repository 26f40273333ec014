import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadMnist } from '../lib/data';
import { UserError } from '../lib/util/errors';
import { loadCheckpoint, trainVlm, packageRoot, defaultCheckpointDir } from '../lib/vlm/embedded';
import { TINY_TRAIN, tinyCheckpoint } from './vlm-helpers';
import { vlmCheckpointHash } from '../lib/vlm/embedded/attribute';
import { readTensorFile } from '../lib/util/tensor-file';
import { pythonLoad, pythonSkip } from './python-helpers';

let dir = '';
before(async () => {
  dir = await tinyCheckpoint('ltl-vlm-ckpt-', { background: ['background'], temperature: 1 });
});

function copy(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'ltl-vlm-ckpt-'));
  for (const f of fs.readdirSync(dir)) fs.copyFileSync(path.join(dir, f), path.join(d, f));
  return d;
}

test('a saved checkpoint loads back with identical weights', async () => {
  const r = await trainVlm(loadMnist().train, TINY_TRAIN);
  const l = loadCheckpoint(dir);
  for (const [name, v] of r.model.params) assert.deepEqual(l.model.params.get(name)!.dataSync(), v.dataSync(), name);
  assert.equal(l.vocab.size, r.vocab.size);
  assert.equal(l.meta.seed, 5);
  r.model.dispose();
  l.model.dispose();
});

test('loading says clearly what is missing or corrupt', () => {
  assert.throws(() => loadCheckpoint(path.join(dir, 'nope')), (e: unknown) => e instanceof UserError && /does not exist/.test(e.message));
  const d1 = copy();
  fs.rmSync(path.join(d1, 'weights.safetensors'));
  fs.rmSync(path.join(d1, 'vocab.json'));
  assert.throws(() => loadCheckpoint(d1), (e: unknown) => e instanceof UserError && /missing weights\.safetensors, vocab\.json/.test(e.message));
  const d2 = copy();
  const w = fs.readFileSync(path.join(d2, 'weights.safetensors'));
  w[w.length - 10] ^= 0xff;
  fs.writeFileSync(path.join(d2, 'weights.safetensors'), w);
  assert.throws(() => loadCheckpoint(d2), (e: unknown) => e instanceof UserError && /weights\.safetensors is corrupt/.test(e.message));
  const d3 = copy();
  fs.writeFileSync(path.join(d3, 'meta.json'), '{ not json');
  assert.throws(() => loadCheckpoint(d3), (e: unknown) => e instanceof UserError && /meta\.json is corrupt: not valid JSON/.test(e.message));
  const d4 = copy();
  fs.appendFileSync(path.join(d4, 'vocab.json'), ' ');
  assert.throws(() => loadCheckpoint(d4), (e: unknown) => e instanceof UserError && /vocab\.json is corrupt/.test(e.message));
  // A folder of the format before tensor files (weights.bin) says so and what to do.
  const d5 = copy();
  fs.renameSync(path.join(d5, 'weights.safetensors'), path.join(d5, 'weights.bin'));
  assert.throws(() => loadCheckpoint(d5), (e: unknown) => e instanceof UserError && /is in the old format \(weights\.bin.*vlm-checkpoint-to-safetensors/.test(e.message));
});

test('the identity is defined on content: the committed checkpoint (v2) has the identity its meta records; the earlier MNIST study recorded v1, this round\'s study v2', () => {
  // Recorded in the provenance of the committed results (docs/results*/*/result.json) and in map cache keys.
  const vlm = loadCheckpoint(defaultCheckpointDir());
  assert.equal(vlm.meta.identity, '6dc795f58daaa4a79a70c5a777045de3953ff2164af11b54b953c1229ee56f62');
  assert.equal(vlmCheckpointHash(vlm), vlm.meta.identity);
  vlm.model.dispose();
  const t = readTensorFile(path.join(defaultCheckpointDir(), 'weights.safetensors'));
  assert.equal(t.metadata.data_sha256, '0ad0788e948c4371d07b421cb9c9b8113aa4ec1bd4c0be7ce0c63b69ec58acf8');
  assert.equal([...t.tensors.values()].reduce((a, x) => a + x.data.byteLength, 0), 711112);
  // every embedded map of the earlier MNIST study (docs/results-v1) came from the digit checkpoint v1
  // (docs/embedded-vlm.md), whose identity (kept from its weights.bin days) its result files record; every map of this
  // round's study (docs/results) from the committed checkpoint
  const v1 = '6a512dedc80f28cc8fae75a1810d41d2562965a5b2e1ed5053b125f7d5bd7735';
  const provenances = (results: string, datasets: readonly string[]) => {
    const out: Array<{ file: string; checkpoint: unknown }> = [];
    for (const dataset of datasets) {
      if (!fs.existsSync(path.join(results, dataset))) continue;
      for (const row of fs.readdirSync(path.join(results, dataset))) {
        if (!fs.statSync(path.join(results, dataset, row)).isDirectory()) continue;
        for (const seed of fs.readdirSync(path.join(results, dataset, row))) {
          for (const name of ['result.json', 'diverged.json']) {
            const f = path.join(results, dataset, row, seed, name);
            if (!fs.existsSync(f)) continue;
            const r = JSON.parse(fs.readFileSync(f, 'utf8'));
            for (const p of r.prompts?.provenance ?? []) if (p.generator === 'embedded') out.push({ file: f, checkpoint: p.generatorId.checkpoint });
          }
        }
      }
    }
    return out;
  };
  const earlier = provenances(path.join(packageRoot(), 'docs', 'results-v1'), ['decoymnist-hard', 'decoymnist', 'colormnist']);
  for (const p of earlier) assert.equal(p.checkpoint, v1, p.file);
  assert.ok(earlier.length > 100, `${earlier.length} embedded map provenances`);
  const now = provenances(path.join(packageRoot(), 'docs', 'results'), ['decoymnist-hard', 'decoymnist', 'colormnist', 'decoyfashion-hard', 'colorfashion']);
  for (const p of now) assert.equal(p.checkpoint, '6dc795f58daaa4a79a70c5a777045de3953ff2164af11b54b953c1229ee56f62', p.file);
});

test('a PyTorch or NumPy user reads the VLM weights with safetensors', { skip: pythonSkip }, () => {
  const file = path.join(dir, 'weights.safetensors');
  const py = pythonLoad(file);
  const l = loadCheckpoint(dir);
  for (const [name, v] of l.model.params) {
    assert.deepEqual(py.tensors[name].shape, v.shape, name);
    assert.deepEqual(py.tensors[name].values, [...(v.dataSync() as Float32Array)], name);
  }
  assert.equal(Object.keys(py.tensors).length, l.model.params.size);
  assert.deepEqual(JSON.parse(py.metadata.config), l.model.config);
  l.model.dispose();
});

test('the default checkpoint folder is data/vlm under the package root', () => {
  assert.ok(fs.existsSync(path.join(packageRoot(), 'package.json')));
  assert.equal(defaultCheckpointDir(), path.join(packageRoot(), 'data', 'vlm'));
});
