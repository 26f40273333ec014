import { test, before } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../lib/backend';
import { runTraining, selectEpoch, resolveConfig, configDiff, PAPER_DEFAULTS, TfjsEngine, DEFAULT_OPTIMIZER, IDENTITY3, OFF_GREY3, type TrainConfig, type InputGradPenalty } from '../lib/train';
import { positiveWeights, negativeWeights, combineWeights, promptRegions, buildPromptConstraint, massRegion, MEASURE_MASKS } from '../lib/train/prompt-constraint';
import { createModel } from '../lib/models';
import { rrrPenalty } from '../lib/losses/rrr';
import { registerGenerator } from '../lib/maps/registry';
import { mapCacheKey, splitMaps } from '../lib/train/split-maps';
import { generatorIdentity } from '../lib/maps/types';
import { EmbeddedGenerator, loadCheckpoint } from '../lib/vlm/embedded';
import { attributeMatrix, computeAttributeMatrix, parseAttributePrompt, compareToOffGrey, freeAxisMatrix, symmetricEigen3, vlmCheckpointHash } from '../lib/vlm/embedded/attribute';
import type { MapBatch, MapRequest } from '../lib/maps/types';
import { writeSealedJson } from '../lib/util/sealed';
import { UserError } from '../lib/util/errors';
import { createRng } from '../lib/util/rng';
import { smallDataset } from './train-helpers';
import { tmpDirs } from './tmp-helpers';
import { tinyCheckpoint } from './vlm-helpers';
import '../lib/vlm/register'; // provides the VLM map sources (embedded, clipseg), as the package's entry points do

const tmp = tmpDirs('ltl-prompt-');
before(async () => { await initBackend('wasm'); });

/** One map per image: 1 on a square [r0, r0+s) x [c0, c0+s), 0 elsewhere (28 x 28). */
function squareMaps(squares: Array<[number, number, number] | null>, h = 28, w = 28): MapBatch {
  const data = new Float32Array(squares.length * h * w);
  squares.forEach((sq, n) => {
    if (!sq) return;
    const [r0, c0, s] = sq;
    for (let r = r0; r < r0 + s; r++) for (let c = c0; c < c0 + s; c++) data[n * h * w + r * w + c] = 0.9;
  });
  return { count: squares.length, height: h, width: w, data };
}

test('prompt masks: positive = 1 off the dilated map, negative = on it, max combines; an empty positive map constrains nothing', () => {
  const maps = squareMaps([[10, 10, 8], null]);
  const r0 = promptRegions(maps, { threshold: 0.5, radius: 0 }, 28);
  assert.equal(r0.subarray(0, 784).reduce((a, b) => a + b, 0), 64, 'no dilation, same grid: the square itself');
  const r2 = promptRegions(maps, { threshold: 0.5, radius: 2 }, 28);
  assert.equal(r2.subarray(0, 784).reduce((a, b) => a + b, 0), 144, 'radius 2: a 12x12 square');
  assert.equal(promptRegions(maps, { threshold: 0.95, radius: 2 }, 28).reduce((a, b) => a + b, 0), 0, 'strict threshold above the map');
  // on the 32x32 input grid the region covers every pixel the 28x28 region touches after bilinear resizing
  const pos = positiveWeights(maps, { threshold: 0.5, radius: 1 }, 32);
  assert.equal(pos.empty, 1);
  const w = pos.weights;
  const at = (n: number, y: number, x: number) => w[n * 1024 + y * 32 + x];
  assert.equal(at(0, 16, 16), 0, 'inside the object: free');
  assert.equal(at(0, 0, 0), 1, 'far off the object: penalised');
  assert.equal(at(0, 31, 31), 1);
  assert.ok(w.subarray(1024).every((v) => v === 0), 'empty map: no constraint');
  // the 28-px region [9, 19) maps to [9*32/28, 19*32/28) ~ [10.3, 21.7): its border pixels are free, beyond is penalised
  assert.equal(at(0, 16, 11), 0); assert.equal(at(0, 16, 21), 0);
  assert.equal(at(0, 16, 8), 1); assert.equal(at(0, 16, 24), 1);
  const neg = negativeWeights(maps, { threshold: 0.5, radius: 1 }, 32);
  for (let i = 0; i < 1024; i++) assert.equal(neg[i], 1 - w[i], 'negative region = complement of the positive weights for the same map');
  const both = combineWeights([w, neg])!;
  assert.ok(both.subarray(0, 1024).every((v) => v === 1));
  assert.ok(w.every((v) => v === 0 || v === 1));
});

test('the prompt penalty\'s gradient through the tfjs engine matches finite differences of R', () => {
  const model = createModel('lenet-gap', 4);
  const initial: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const p of model.params) initial[p.name] = { shape: [...p.variable.shape], data: (p.variable.dataSync() as Float32Array).slice() };
  const rng = createRng('prompt-fd');
  const B = 3, S = 32;
  const images = new Float32Array(B * S * S * 3).map(() => rng.next() * 2 - 1);
  const maps = squareMaps([[6, 6, 14], [4, 10, 12], [10, 3, 15]]);
  const mask = positiveWeights(maps, { threshold: 0.5, radius: 1 }, S).weights;
  // a PSD global term besides the per-pixel one: the attribute form
  const penalty: InputGradPenalty = { spatial: IDENTITY3, global: [0.8, -0.15, -0.28, -0.15, 0.66, -0.1, -0.28, -0.1, 0.6] };
  const engine = new TfjsEngine({ model, method: 'rrr', penalty, optimizer: { ...DEFAULT_OPTIMIZER, momentum: 0, weightDecay: 0 } });
  const lr = 1; // the update is then the gradient itself (float32 keeps its digits)
  // phase 'attention': the step's loss is mean R alone, so SGD's update is -lr * dR/dtheta
  engine.trainStep({ size: B, images, labels: new Int32Array([1, 2, 3]), rrrMask: mask }, { phase: 'attention', lambda: 1, lr });
  const after = engine.getState().weights;
  const fresh = createModel('lenet-gap', 4, initial as any);
  const R = () => tf.tidy(() => rrrPenalty(fresh, tf.tensor4d(images, [B, S, S, 3]), penalty, tf.tensor3d(mask, [B, S, S])).dataSync()[0]);
  let checked = 0;
  for (const name of ['conv1.w', 'conv2.w', 'fc.w', 'fc.b']) {
    const p = fresh.params.find((q) => q.name === name);
    if (!p) continue;
    const grad = Float32Array.from(initial[name].data, (v, i) => (v - after[name].data[i]) / lr);
    // the two largest gradient entries of this parameter
    const idx = [...grad.keys()].sort((a, b) => Math.abs(grad[b]) - Math.abs(grad[a])).slice(0, 2);
    for (const i of idx) {
      const base = initial[name].data;
      const set = (v: number) => { const d = base.slice(); d[i] = v; p.variable.assign(tf.tensor(d, p.variable.shape)); };
      // Central differences with small steps: R is piecewise smooth in the weights (ReLU and max-pool switch),
      // and a step of 1 % of a weight already crosses switches (measured: 5x off); at 0.1 % and 0.03 % the
      // difference quotient settles; one of the two must agree within 3 % (float32 sums, R ~ 1e-4).
      const tries = [1e-3, 3e-4].map((r) => {
        const eps = r * Math.max(1e-2, Math.abs(base[i]));
        set(base[i] + eps); const up = R();
        set(base[i] - eps); const down = R();
        set(base[i]);
        const fd = (up - down) / (2 * eps);
        return { fd, rel: Math.abs(fd - grad[i]) / Math.max(Math.abs(fd), Math.abs(grad[i]), 1e-12) };
      });
      assert.ok(tries.some((t) => t.rel < 0.03), `${name}[${i}]: engine gradient ${grad[i]} vs finite differences ${tries.map((t) => t.fd).join(', ')}`);
      assert.ok(Math.abs(grad[i]) > 0, 'a non-zero gradient entry');
      checked++;
    }
  }
  assert.ok(checked >= 6, `checked ${checked} entries`);
  engine.dispose(); fresh.dispose();
});

// A prompt generator that counts its calls (to see the disk cache at work).
let generated = 0;
class CountingGenerator {
  readonly name = 'counting-test';
  readonly usesPrompt = true;
  async generate(req: MapRequest): Promise<MapBatch> {
    const idx = Array.from(req.indices ?? []);
    generated += idx.length;
    const hw = req.split.height * req.split.width;
    const data = new Float32Array(idx.length * hw);
    idx.forEach((i, k) => data.fill(((i * 7 + req.prompt.length) % 10) / 10, k * hw, (k + 1) * hw));
    return { count: idx.length, height: req.split.height, width: req.split.width, data };
  }
}
registerGenerator('counting-test', () => new CountingGenerator(), { usesPrompt: true });

test('map cache key: changes with prompt, dataset checksum, checkpoint and background; same inputs give the same key', async () => {
  const spec = { datasetChecksum: 'abc', split: 'train', generator: 'embedded', generatorId: { checkpoint: 'h1', temperature: 0.2 }, prompt: 'a digit', background: ['black'] };
  const k = mapCacheKey(spec);
  assert.equal(mapCacheKey({ ...spec, generatorId: { temperature: 0.2, checkpoint: 'h1' } }), k, 'key order does not matter');
  for (const other of [{ prompt: 'a square' }, { datasetChecksum: 'abd' }, { generatorId: { checkpoint: 'h2', temperature: 0.2 } }, { background: ['dark'] }, { split: 'val' }]) {
    assert.notEqual(mapCacheKey({ ...spec, ...other }), k, JSON.stringify(other));
  }
  // the embedded generator's identity follows its checkpoint
  const tiny = await tinyCheckpoint('ltl-prompt-vlm-', { background: ['black'], temperature: 0.5 });
  const a = generatorIdentity(new EmbeddedGenerator()), b = generatorIdentity(new EmbeddedGenerator({ checkpoint: tiny }));
  assert.notEqual(a.id.checkpoint, b.id.checkpoint);
  assert.deepEqual(b.background, ['black']);
  assert.equal(a.id.checkpoint, vlmCheckpointHash(loadCheckpoint()));
  fs.rmSync(tiny, { recursive: true, force: true });
});

test('generated maps are cached on disk and reused; a corrupt cache file is made again', async () => {
  const ds = smallDataset('decoymnist', { train: 40, val: 20, test: 20 });
  const cacheDir = tmp();
  const req = { maps: 'counting-test', prompt: 'a digit', role: 'positive' as const, seed: 0, cacheDir };
  generated = 0;
  const first = (await splitMaps(req, ds, ds.train, 30))!;
  assert.equal(generated, 30);
  assert.ok(first.provenance.file && fs.existsSync(first.provenance.file));
  assert.equal(path.dirname(first.provenance.file!), path.join(cacheDir, 'maps'));
  const again = (await splitMaps(req, ds, ds.train, 30))!;
  assert.equal(generated, 30, 'no new maps: read from the cache file');
  assert.equal(again.provenance.mapsSha256, first.provenance.mapsSha256);
  assert.equal(again.provenance.cacheKey, first.provenance.cacheKey);
  await splitMaps(req, ds, ds.train, 35);
  assert.equal(generated, 35, 'only the 5 missing maps are made');
  const other = (await splitMaps({ ...req, prompt: 'a number' }, ds, ds.train, 30))!;
  assert.notEqual(other.provenance.cacheKey, first.provenance.cacheKey);
  assert.notEqual(other.provenance.file, first.provenance.file);
  // corrupt the cache file: it is remade, not trusted
  const buf = fs.readFileSync(first.provenance.file!);
  buf[buf.length - 1] ^= 0xff;
  fs.writeFileSync(first.provenance.file!, buf);
  const logs: string[] = [];
  generated = 0;
  const remade = (await splitMaps({ ...req, log: (m) => logs.push(m) }, ds, ds.train, 30))!;
  assert.equal(generated, 30);
  assert.equal(remade.provenance.mapsSha256, first.provenance.mapsSha256);
  assert.ok(logs.some((m) => /unusable/.test(m)));
});

test('attribute matrix: symmetric PSD, largest eigenvalue 1, deterministic, cached; the reference comparison', async () => {
  const ds = smallDataset('colormnist', { train: 60, val: 10, test: 10 });
  const vlm = loadCheckpoint();
  const spec = { attribute: 'colour of a digit', sample: 6 };
  const a = await computeAttributeMatrix(vlm, ds.train, spec);
  const b = await computeAttributeMatrix(vlm, ds.train, spec);
  assert.deepEqual(a.matrix, b.matrix, 'same seeded sample, same matrix');
  const m = a.matrix;
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) assert.equal(m[i * 3 + j], m[j * 3 + i]);
  const ev = symmetricEigen3(m).values;
  assert.ok(ev[2] >= -1e-6, `PSD: eigenvalues ${ev}`);
  assert.ok(Math.abs(ev[0] - 1) < 1e-5, `normalised: ${ev}`);
  assert.ok(a.values.includes('red a digit') && a.values.length >= 10);
  // "of" ties the attribute to its context: dropped (the committed VLM knows the word; "red of a digit" is not meant)
  assert.equal(a.context, 'a digit'); assert.deepEqual(a.ignoredWords, []);
  assert.ok(vlm.vocab.has('of'));
  assert.ok(a.reference.cosine > 0 && a.reference.cosine <= 1);
  // another sample seed gives another (but still valid) estimate
  const c = await computeAttributeMatrix(vlm, ds.train, { ...spec, seed: 5 });
  assert.notDeepEqual(c.matrix, a.matrix);
  // cache: the second call reads the file
  const dir = tmp();
  const first = await attributeMatrix(vlm, ds, spec, dir);
  const second = await attributeMatrix(vlm, ds, spec, dir);
  assert.equal(first.cached, false); assert.equal(second.cached, true);
  assert.deepEqual(second.matrix, first.matrix);
  assert.deepEqual(first.matrix, a.matrix);
  assert.notEqual((await attributeMatrix(vlm, ds, { ...spec, attribute: 'colour' }, dir)).cacheKey, first.cacheKey);
  // the same text read as other value prompts (here a vocabulary without "digit": "red a") is another matrix, not a hit
  const vocab = Object.create(vlm.vocab, { has: { value: (w: string) => w !== 'digit' && vlm.vocab.has(w) } });
  const reread = await attributeMatrix({ ...vlm, vocab }, ds, spec, dir);
  assert.equal(reread.cached, false);
  assert.notEqual(reread.cacheKey, first.cacheKey);
  assert.ok(reread.values.includes('red a'), reread.values.join(', '));
  // the reference itself: OFF_GREY3 compares perfectly and is its own free-axis form
  const self = compareToOffGrey(OFF_GREY3);
  assert.ok(Math.abs(self.cosine - 1) < 1e-9 && Math.abs(self.greyShare) < 1e-9 && self.freeAxisAngleToGrey < 1e-3);
  freeAxisMatrix({ matrix: [...OFF_GREY3] }).forEach((v, i) => assert.ok(Math.abs(v - OFF_GREY3[i]) < 1e-6));
  await assert.rejects(computeAttributeMatrix(vlm, ds.train, { attribute: 'stripes' }), UserError);
  await assert.rejects(computeAttributeMatrix(vlm, ds.train, { attribute: 'red,zebra' }), UserError);
  assert.deepEqual(parseAttributePrompt('red, green ,blue', vlm.vocab).prompts, ['red', 'green', 'blue']);
  assert.equal(parseAttributePrompt('Color', vlm.vocab).context, '');
  const clothing = parseAttributePrompt('colour of clothing', vlm.vocab);
  assert.equal(clothing.context, 'clothing');
  assert.ok(clothing.prompts.includes('red clothing') && clothing.prompts.every((p) => !/\bof\b/.test(p)), clothing.prompts.join(', '));
  // only the word right after the attribute links: a later "of" is context ("a piece of clothing")
  assert.equal(parseAttributePrompt('colour of a piece of clothing', vlm.vocab).context, 'a piece of clothing');
  vlm.model.dispose();
});

test('prompt options resolve to prompt mode, embedded maps and lambda 10; invalid combinations are user errors', () => {
  const c = resolveConfig({ dataset: 'decoymnist-hard', method: 'rrr', prompt: 'a digit' });
  assert.equal(c.rrrMode, 'prompt'); assert.equal(c.maps, 'embedded'); assert.equal(c.lambda, 10);
  assert.equal(resolveConfig({ dataset: 'colormnist', method: 'rrr', attributePrompt: 'colour' }).rrrMode, 'prompt');
  assert.equal(resolveConfig({ dataset: 'colormnist', method: 'rrr' }).rrrMode, 'colour', 'unchanged without prompts');
  assert.equal(resolveConfig({ dataset: 'decoymnist', method: 'rrr' }).lambda, 1000);
  assert.equal(resolveConfig({ dataset: 'decoymnist', method: 'align' }).maps, 'oracle', 'align keeps its default');
  assert.equal(resolveConfig({ dataset: 'decoymnist', method: 'align', prompt: 'a digit', maps: 'embedded' }).maps, 'embedded');
  const bad: Array<Partial<TrainConfig>> = [
    { method: 'rrr', rrrMode: 'prompt' },
    { method: 'align', maps: 'embedded' },
    { method: 'vanilla', select: 'val-rr' },
    { method: 'rrr', prompt: 'a digit', promptThreshold: 1 },
    { method: 'rrr', prompt: 'a digit', promptDilate: 1.5 },
    { method: 'rrr', prompt: '  ' },
    { method: 'rrr', negativePrompts: [''] },
    { method: 'rrr', prompt: 'a digit', attributeForm: 'x' as any },
  ];
  for (const b of bad) assert.throws(() => resolveConfig({ dataset: 'decoymnist', ...b }), UserError, JSON.stringify(b));
  // a run folder written before the prompt options existed still matches a config that leaves them unset
  const old: any = { ...resolveConfig({ dataset: 'decoymnist', method: 'rrr' }) };
  for (const k of ['prompt', 'negativePrompts', 'attributePrompt', 'promptThreshold', 'promptDilate', 'negativeDilate', 'attributeForm']) delete old[k];
  assert.deepEqual(configDiff(old, resolveConfig({ dataset: 'decoymnist', method: 'rrr' })), []);
  assert.deepEqual(configDiff(old, resolveConfig({ dataset: 'decoymnist', method: 'rrr', rrrMode: 'spatial', prompt: 'a digit', maps: 'oracle' })), ['prompt']);
  assert.equal(PAPER_DEFAULTS.select, 'val-acc');
});

test('val-rr selection: val acc x (1 - excluded share), among combined-phase epochs', () => {
  const e = (valAcc: number, share: number | null, phase = 'combined') => ({ valAcc, valScore: valAcc, valExcludedShare: share, phase: phase as any });
  assert.equal(selectEpoch([e(0.99, 0.6), e(0.95, 0.1), e(0.9, 0.05)], 'val-rr'), 1);
  assert.equal(selectEpoch([e(0.99, 0.6), e(0.95, 0.1), e(0.9, 0.05)], 'val-acc'), 0);
  assert.equal(selectEpoch([e(1, 0, 'ce'), e(0.5, 0.5), e(0.6, 0.5)], 'val-rr'), 2);
  assert.equal(selectEpoch([e(0.9, 1.7), e(0.1, 0.95)], 'val-rr'), 1, 'a share above 1 counts as 1');
});

test('selection never reads the test split: poisoned test labels, same selected epoch and validation numbers', async () => {
  const ds = smallDataset('decoymnist-hard', { train: 160, val: 80, test: 80 });
  const poisoned = { ...ds, test: { ...ds.test, labels: Uint8Array.from(ds.test.labels, (y) => (y + 3) % 10) } };
  const config: Partial<TrainConfig> = {
    dataset: 'decoymnist-hard', method: 'rrr', maps: 'oracle', prompt: 'a digit', negativePrompts: ['a frame'],
    attentionEpoch: 0, epochs: 3, seed: 2, lr: 0.01, batch: 40, engine: 'tfjs', select: 'val-rr',
  };
  const cacheDir = tmp();
  const clean = await runTraining(config, { dataset: ds, promptCacheDir: cacheDir });
  const bad = await runTraining(config, { dataset: poisoned, promptCacheDir: cacheDir });
  assert.equal(bad.selectedEpoch, clean.selectedEpoch);
  assert.deepEqual(bad.epochs.map((r) => [r.valAcc, r.valExcludedShare, r.loss]), clean.epochs.map((r) => [r.valAcc, r.valExcludedShare, r.loss]));
  assert.notDeepEqual(bad.epochs.map((r) => r.testAcc), clean.epochs.map((r) => r.testAcc), 'the poison does change test accuracy');
  for (const r of clean.epochs) assert.ok(typeof r.valExcludedShare === 'number' && r.valExcludedShare >= 0 && r.valExcludedShare <= 1);
  const p = clean.prompts!;
  assert.deepEqual(p.penalty, { spatial: IDENTITY3, global: null });
  assert.equal(p.provenance.length, 4, 'positive and negative prompt, train and val');
  assert.ok(p.provenance.every((q) => /^[0-9a-f]{64}$/.test(q.mapsSha256)));
  assert.equal(p.provenance.find((q) => q.role === 'negative')!.generatorId.target, 'shortcut', 'oracle: a negative prompt gets the shortcut mask');
  assert.equal(clean.valExcludedShareSelected, clean.epochs[clean.selectedEpoch].valExcludedShare);
});

test('mask by mass: the smallest set of pixels holding the share, largest first; ties by pixel order; empty map empty', () => {
  // one 2x3 map: values 4, 3, 2, 1, 0, 0 (total 10); a second map all 0
  const maps: MapBatch = { count: 2, height: 2, width: 3, data: Float32Array.from([4, 3, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0]) };
  const region = (share: number) => Array.from(massRegion(share)(maps).data.subarray(0, 6));
  assert.deepEqual(region(0.4), [1, 0, 0, 0, 0, 0], '4 of 10 holds 40 %');
  assert.deepEqual(region(0.41), [1, 1, 0, 0, 0, 0], 'just over: the next largest joins');
  assert.deepEqual(region(0.9), [1, 1, 1, 0, 0, 0], '4 + 3 + 2 of 10');
  assert.deepEqual(region(0.91), [1, 1, 1, 1, 0, 0]);
  assert.deepEqual(region(1), [1, 1, 1, 1, 0, 0], 'all the mass: every positive pixel, no zero one');
  assert.ok(massRegion(1)(maps).data.subarray(6).every((v) => v === 0), 'an empty map has an empty region');
  const ties: MapBatch = { count: 1, height: 1, width: 4, data: Float32Array.from([1, 1, 1, 1]) };
  assert.deepEqual(Array.from(massRegion(0.5)(ties).data), [1, 1, 0, 0], 'equal values: pixel order decides');
  assert.throws(() => massRegion(0), UserError);
  // through the mask chain: the region by mass, then dilated, as promptRegions does with a threshold
  const sq = squareMaps([[10, 10, 8]]);
  assert.deepEqual(promptRegions(sq, { threshold: 0.99, mass: 1, radius: 2 }, 28), promptRegions(sq, { threshold: 0.5, radius: 2 }, 28),
    'mass 1 of a flat square = the square, whatever the threshold');
});

test('the right-reasons score always uses the default masks; the training masks follow --prompt-mass / --prompt-dilate', async () => {
  const ds = smallDataset('decoymnist-hard', { train: 40, val: 20, test: 10 });
  const base = resolveConfig({ dataset: 'decoymnist-hard', method: 'rrr', maps: 'oracle', prompt: 'a digit', seed: 1 });
  const dir = tmp();
  const plain = await buildPromptConstraint(base, ds, 40, 20, 28, { cacheDir: dir });
  const loose = await buildPromptConstraint({ ...base, promptMass: 0.9, promptDilate: 4 }, ds, 40, 20, 28, { cacheDir: dir });
  assert.deepEqual(loose.val, plain.val, 'validation masks: the defaults for both');
  assert.notDeepEqual(loose.train, plain.train, 'training masks: the run\'s own');
  assert.equal(plain.info.measureMasks, undefined);
  assert.deepEqual(loose.info.measureMasks, MEASURE_MASKS);
  assert.equal(loose.info.masks.mass, 0.9);
  assert.throws(() => resolveConfig({ ...base, promptMass: 1.5 }), /--prompt-mass must be a number in \(0, 1\]/);
});

test('--negative-region shared: one region for every image, from the mean of the training maps; refused where what the prompt names moves', async () => {
  const hard = smallDataset('decoymnist-hard', { train: 40, val: 20, test: 10 });
  const base = resolveConfig({ dataset: 'decoymnist-hard', method: 'rrr', maps: 'oracle', negativePrompts: ['a frame'], seed: 1 });
  const dir = tmp();
  const each = await buildPromptConstraint(base, hard, 40, 20, 28, { cacheDir: dir });
  const shared = await buildPromptConstraint({ ...base, negativeRegion: 'shared', promptMass: 0.99 }, hard, 40, 20, 28, { cacheDir: dir });
  // the frame is at one place in every image: the shared region is each image's own (and --prompt-mass does not apply)
  assert.deepEqual(shared.train, each.train);
  assert.deepEqual(shared.val, each.val);
  assert.deepEqual(shared.valCounterfactual, each.valCounterfactual);
  assert.equal(shared.info.masks.negativeRegion, 'shared');
  assert.equal(each.info.masks.negativeRegion, undefined, 'the per-image record is as before');
  const hw = 28 * 28, region = shared.train!.subarray(0, hw);
  for (let i = 1; i < 40; i++) assert.deepEqual(shared.train!.subarray(i * hw, (i + 1) * hw), region);
  // the decoy square of DecoyMNIST sits in one of several corners: its mean map is below the threshold everywhere
  const decoy = smallDataset('decoymnist', { train: 40, val: 20, test: 10 });
  const sq = resolveConfig({ dataset: 'decoymnist', method: 'rrr', maps: 'oracle', negativePrompts: ['a square'], seed: 1, negativeRegion: 'shared' });
  await assert.rejects(buildPromptConstraint(sq, decoy, 40, 20, 28, { cacheDir: dir }),
    (e: unknown) => e instanceof UserError && /--negative-region shared: the mean map of "a square" over the training images exceeds --prompt-threshold 0.5 nowhere \(at most 0\.\d+\)/.test(e.message));
  await assert.rejects(buildPromptConstraint(resolveConfig({ ...base, negativePrompts: [], prompt: 'a digit', negativeRegion: 'shared' }), hard, 40, 20, 28, { cacheDir: dir }),
    /--negative-region shared sets where a negative prompt's region comes from: give --negative-prompt/);
});

test('a vanilla run with a prompt records where it looks; a resume with other maps is refused', async () => {
  const ds = smallDataset('decoymnist-hard', { train: 120, val: 60, test: 60 });
  const out = tmp();
  const config: Partial<TrainConfig> = { dataset: 'decoymnist-hard', method: 'vanilla', maps: 'oracle', prompt: 'a digit', epochs: 2, seed: 1, lr: 0.01, batch: 40, engine: 'tfjs' };
  await assert.rejects(runTraining(config, { dataset: ds, outDir: out, haltAfterEpoch: 0 }));
  const record = path.join(out, 'prompts.json');
  assert.ok(fs.existsSync(record));
  const { sha256: _seal, ...info } = JSON.parse(fs.readFileSync(record, 'utf8'));
  const fresh0: string = info.provenance[0].mapsSha256;
  info.provenance[0].mapsSha256 = '0'.repeat(64);
  writeSealedJson(record, info); // the (checksummed) record of a run made with other maps
  const damaged = fs.readFileSync(record, 'utf8').replace('"mapsSha256": "0', '"mapsSha256": "1');
  fs.writeFileSync(record, damaged);
  await assert.rejects(runTraining(config, { dataset: ds, outDir: out }), (e: Error) => e instanceof UserError && /prompt record .*prompts\.json is corrupt: checksum mismatch/.test(e.message));
  writeSealedJson(record, info);
  await assert.rejects(runTraining(config, { dataset: ds, outDir: out }), (e: Error) => e instanceof UserError && /prompt maps or penalty .* changed/.test(e.message));
  // the same maps made into other masks are another run too: the record of a run whose masks were dilated by 3
  writeSealedJson(record, { ...info, provenance: [{ ...info.provenance[0], mapsSha256: fresh0 }, ...info.provenance.slice(1)], masks: { ...info.masks, positiveRadius: 3 } });
  await assert.rejects(runTraining(config, { dataset: ds, outDir: out }), (e: Error) => e instanceof UserError && /prompt maps or penalty .* changed/.test(e.message));
  writeSealedJson(record, { ...info, provenance: [{ ...info.provenance[0], mapsSha256: fresh0 }, ...info.provenance.slice(1)] });
  await runTraining(config, { dataset: ds, outDir: out }); // the original record: the resume goes on
  const fresh = await runTraining(config, { dataset: ds });
  assert.ok(fresh.epochs.every((r) => typeof r.valExcludedShare === 'number'));
  assert.equal(fresh.prompts!.penalty.spatial!.length, 9);
});

test('a constraint with a per-pixel and an attribute term: both matrices, validation masks, share bound 2', async () => {
  const ds = smallDataset('colormnist', { train: 40, val: 20, test: 10 });
  const c = { ...resolveConfig({ dataset: 'colormnist', method: 'rrr', maps: 'oracle', prompt: 'a digit', attributePrompt: 'red,green,blue', seed: 1 }) };
  const logs: string[] = [];
  const pc = await buildPromptConstraint(c, ds, 30, 20, 32, { cacheDir: tmp(), log: (m) => logs.push(m) });
  assert.deepEqual(pc.penalty.spatial, IDENTITY3);
  assert.equal(pc.penalty.global!.length, 9);
  assert.ok(Math.abs(pc.shareBound - 2) < 1e-5, String(pc.shareBound));
  assert.equal(pc.train!.length, 30 * 1024); assert.equal(pc.val!.length, 20 * 1024);
  assert.ok(pc.measurable);
  assert.ok(pc.info.trainMeanWeight! > 0.3 && pc.info.trainMeanWeight! < 1, `mean w ${pc.info.trainMeanWeight}`);
  assert.deepEqual((pc.info.attribute as any).values, ['red', 'green', 'blue']);
  assert.ok(logs.some((m) => /attribute prompt "red,green,blue": 3 value prompts/.test(m)));
  const free = await buildPromptConstraint({ ...c, prompt: null, attributeForm: 'free-axis' }, ds, 30, 20, 32, { cacheDir: tmp() });
  assert.equal(free.penalty.spatial, null); assert.equal(free.train, undefined); assert.ok(Math.abs(free.shareBound - 1) < 1e-5);
  assert.deepEqual(pc.measurePenalty, pc.penalty, 'moment form: the score measures the run\'s own penalty');
  assert.notDeepEqual(free.penalty.global, pc.penalty.global);
  assert.deepEqual(free.measurePenalty.global, pc.penalty.global, 'free-axis runs are measured with the moment matrix, like every other run');
  const ev = symmetricEigen3(free.penalty.global!).values;
  assert.ok(Math.abs(ev[0] - 1) < 1e-5 && Math.abs(ev[1] - 1) < 1e-5 && Math.abs(ev[2]) < 1e-5, `a projection: ${ev}`);
});

test('map cache key: a prompt with words the VLM was not taught keys on how they are read; known-word prompts do not', async () => {
  const { untaughtReading } = await import('../lib/vlm/embedded');
  const vocab = loadCheckpoint().vocab;
  assert.equal(untaughtReading(vocab, ['a digit', 'background']), undefined, 'known words: no reading in the key');
  const r = untaughtReading(vocab, ['attire', 'background']) as Array<{ mapped: Array<{ word: string }> }>;
  assert.ok(r && r[0].mapped.some((m) => m.word === 'attire'), 'the mapping of an untaught word is part of the key');
});

test('a prompt of several phrasings ("a digit|a handwritten digit"): the mean of its phrasings\' maps, each cached on its own', async () => {
  const { splitMaps, promptPhrasings } = await import('../lib/train/split-maps');
  assert.deepEqual(promptPhrasings('a digit | a handwritten digit|'), ['a digit', 'a handwritten digit']);
  assert.deepEqual(promptPhrasings('a digit'), ['a digit']);
  const ds = smallDataset('decoymnist-hard', { train: 12, val: 4, test: 4 });
  const cacheDir = tmp();
  const one = async (prompt: string) => (await splitMaps({ maps: 'embedded', prompt, role: 'positive', seed: 1, cacheDir }, ds, ds.train, 12))!;
  const a = await one('a digit'), b = await one('a handwritten digit'), both = await one('a digit|a handwritten digit');
  for (let i = 0; i < both.maps.data.length; i++) assert.ok(Math.abs(both.maps.data[i] - (a.maps.data[i] + b.maps.data[i]) / 2) < 1e-6);
  assert.deepEqual(both.provenance.phrasings!.map((p) => [p.prompt, p.mapsSha256]), [['a digit', a.provenance.mapsSha256], ['a handwritten digit', b.provenance.mapsSha256]]);
  assert.equal(both.provenance.cacheKey, null, 'the mean is not cached; its parts are');
  assert.notEqual(both.provenance.mapsSha256, a.provenance.mapsSha256);
  assert.equal(a.provenance.phrasings, undefined);
});
