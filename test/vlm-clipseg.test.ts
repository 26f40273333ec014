import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadDataset } from '../lib/data';
import { createGenerator } from '../lib/maps/registry';
import { mapQuality } from '../lib/evaluate/map-quality';
import { UserError } from '../lib/util/errors';
import '../lib/vlm/register'; // provides the VLM map sources (embedded, clipseg), as the package's entry points do

/**
 * The CLIPSeg code path end to end (tokenizer, processor, onnxruntime-node session, softmax over
 * prompts, resize) against a tiny CLIPSeg-shaped model built here by test/fixtures/build_tiny_clipseg.py
 * (no weights are reachable offline). Skipped when python3-onnx is missing.
 */
const PY = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const hasOnnx = spawnSync(PY, ['-c', 'import onnx, numpy'], { encoding: 'utf8' }).status === 0;
const skip = hasOnnx ? false : 'python3-onnx (and numpy) not installed: cannot build the tiny CLIPSeg model';

let modelDir = '';
function tinyModel(): string {
  if (modelDir) return modelDir;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ltl-tiny-clipseg-'));
  process.on('exit', () => fs.rmSync(root, { recursive: true, force: true }));
  modelDir = path.join(root, 'tiny-clipseg');
  const r = spawnSync(PY, [path.join(__dirname, 'fixtures', 'build_tiny_clipseg.py'), modelDir], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return modelDir;
}

test('CLIPSeg on the tiny model: shapes, ranges, the prompt moves the map, batching does not', { skip }, async () => {
  const ds = loadDataset('decoymnist');
  const val = ds.val;
  const indices = Array.from({ length: 12 }, (_, i) => i);
  const g = await createGenerator('clipseg', { modelDir: tinyModel(), batchSize: 5 });
  assert.equal(g.name, 'clipseg'); assert.equal(g.usesPrompt, true);
  let progress = 0;
  const digit = await g.generate({ split: val, indices, prompt: 'a digit', background: ['background', 'black'], onProgress: (d) => { progress = d; } });
  assert.equal(progress, 12);
  assert.deepEqual([digit.count, digit.height, digit.width], [12, 28, 28]);
  assert.ok(digit.data.every((v) => v >= 0 && v <= 1 && Number.isFinite(v)));
  const qd = mapQuality(digit, val, { indices });
  // The tiny model scores bright pixels for "digit": most mass lands on the digit, well above uniform.
  assert.ok(qd.digitMass > qd.uniformDigitMass + 0.2, JSON.stringify(qd));
  const black = await g.generate({ split: val, indices, prompt: 'black', background: ['a digit'] });
  assert.ok(mapQuality(black, val, { indices }).digitMass < qd.uniformDigitMass, 'the background prompt avoids the digit');
  // sigmoid path (no background prompts), and batch size / order independence
  const sig = await g.generate({ split: val, indices, prompt: 'a digit' });
  assert.ok(mapQuality(sig, val, { indices }).digitMass > qd.uniformDigitMass + 0.2);
  g.dispose?.();
  const g1 = await createGenerator('clipseg', { modelDir: tinyModel(), batchSize: 2 });
  const again = await g1.generate({ split: val, indices: [7, 3], prompt: 'a digit', background: ['background', 'black'] });
  for (let p = 0; p < 784; p++) {
    assert.ok(Math.abs(again.data[p] - digit.data[7 * 784 + p]) < 1e-5);
    assert.ok(Math.abs(again.data[784 + p] - digit.data[3 * 784 + p]) < 1e-5);
  }
  // colour images (3 channels) go through the same path
  const col = loadDataset('colormnist').val;
  const cm = await g1.generate({ split: col, indices: [0, 1, 2], prompt: 'a digit', background: ['black'] });
  assert.ok(mapQuality(cm, col, { indices: [0, 1, 2] }).digitMass > 0.6);
  g1.dispose?.();
});

test('CLIPSeg: clear UserErrors when no model is available', { skip }, async () => {
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'ltl-no-clipseg-'));
  try {
    fs.writeFileSync(path.join(empty, 'config.json'), '{}');
    await assert.rejects(createGenerator('clipseg', { modelDir: empty }), (e: unknown) =>
      e instanceof UserError && /no CLIPSeg model at .*missing preprocessor_config.json, tokenizer.json, tokenizer_config.json, onnx\/model.onnx/.test((e as Error).message));
    await assert.rejects(createGenerator('clipseg', { modelDir: path.join(empty, 'nope') }), /no CLIPSeg model at .*not a folder/);
    // a model root holding {modelId}/ is accepted too
    const dir = tinyModel();
    const g = await createGenerator('clipseg', { modelDir: path.dirname(dir), modelId: path.basename(dir) });
    g.dispose?.();
    // no folder, no downloads, nothing cached
    await assert.rejects(createGenerator('clipseg', { allowRemote: false, modelId: 'nobody/no-such-clipseg' }), (e: unknown) =>
      e instanceof UserError && /no CLIPSeg model 'nobody\/no-such-clipseg' available/.test((e as Error).message));
  } finally {
    fs.rmSync(empty, { recursive: true, force: true });
  }
});
