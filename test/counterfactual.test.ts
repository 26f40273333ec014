import { test, before } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { initBackend } from '../lib/backend';
import {
  applyCounterfactual, batchDonors, counterfactualSplit, namedColours, randomColours, recolourImage, redrawRegion, strokeProfile,
  type CounterfactualPlan,
} from '../lib/counterfactual';
import { buildCounterfactuals, counterfactualBatch } from '../lib/train/counterfactuals';
import { CounterfactualBatcher } from '../lib/counterfactual/kernel';
import { gatherRows } from '../lib/train/data';
import { buildPromptConstraint } from '../lib/train/prompt-constraint';
import { runTraining, resolveConfig, selectEpoch, type TrainConfig } from '../lib/train';
import { prepareImages } from '../lib/train/data';
import { applyRecipe, LANGUAGE_RECIPE, recipeFlags } from '../lib/train/recipes';
import { loadDataset } from '../lib/data';
import { computeAttributeSpan, spanCandidates } from '../lib/vlm/embedded/attribute-span';
import { loadCheckpoint } from '../lib/vlm/embedded/checkpoint';
import { createRng } from '../lib/util/rng';
import { UserError } from '../lib/util/errors';
import { smallDataset } from './train-helpers';
import { tmpDirs } from './tmp-helpers';
import '../lib/vlm/register'; // provides the VLM map sources (embedded, clipseg), as the package's entry points do

const tmp = tmpDirs('ltl-cf-');
before(async () => { await initBackend('wasm'); });

/** n random images [n, S, S, 3] in [-1, 1]. */
function randomImages(n: number, size: number, seed: string): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: n * size * size * 3 }, () => 2 * rng.next() - 1);
}

test('a redrawn region takes the donor\'s pixels bit for bit; every other pixel stays bit for bit', () => {
  const S = 8, hw = S * S;
  const images = randomImages(3, S, 'a'), before = images.slice();
  const free = new Uint8Array(3 * hw);
  for (let p = 0; p < hw; p++) free[hw + p] = p % 3 === 0 ? 1 : 0; // image 1: every third pixel may be redrawn
  const donor = randomImages(5, S, 'b');
  redrawRegion(images, 1, S, free, hw, donor, 4);
  for (let p = 0; p < hw; p++) for (let c = 0; c < 3; c++) {
    const i = (hw + p) * 3 + c;
    assert.equal(images[i], free[hw + p] ? donor[(4 * hw + p) * 3 + c] : before[i]);
  }
  assert.deepEqual(images.subarray(0, hw * 3), before.subarray(0, hw * 3), 'other images untouched');
  assert.deepEqual(images.subarray(2 * hw * 3), before.subarray(2 * hw * 3));
});

test('recolouring keeps the stroke profile and black, and replaces colour and lightness', () => {
  const S = 6, hw = S * S;
  const images = new Float32Array(hw * 3).fill(-1); // black
  const colour: [number, number, number] = [0.9, 0.2, 0.1];
  for (let p = 0; p < hw; p += 2) { const v = (p % 5) / 4; images[3 * p] = 2 * v * 0.3 - 1; images[3 * p + 1] = 2 * v * 0.8 - 1; images[3 * p + 2] = 2 * v * 0.5 - 1; }
  const profile = strokeProfile(images, 0, S);
  recolourImage(images, 0, S, [0.4, 0.1, 0.05]);
  const after = strokeProfile(images, 0, S);
  for (let p = 0; p < hw; p++) assert.ok(Math.abs(after[p] - profile[p]) < 1e-6, `profile at ${p}`);
  for (let p = 1; p < hw; p += 2) assert.deepEqual(Array.from(images.subarray(3 * p, 3 * p + 3)), [-1, -1, -1], 'black stays black');
  // the brightest pixel is now the colour itself, lightness included
  const top = profile.indexOf(1);
  assert.deepEqual(Array.from(images.subarray(3 * top, 3 * top + 3)).map((x) => +((x + 1) / 2).toFixed(5)), [0.4, 0.1, 0.05]);
  const black = new Float32Array(hw * 3).fill(-1);
  recolourImage(black, 0, S, colour);
  assert.ok(black.every((v) => v === -1), 'an all-black image is left as it is');
});

test('a counterfactual batch: share 0 changes nothing; same seed, same images; an empty region keeps the image', () => {
  const S = 8, hw = S * S, n = 6;
  const images = randomImages(n, S, 'c');
  const regions = new Uint8Array(10 * hw);
  for (let i = 0; i < 10; i++) if (i !== 3) for (let p = 0; p < hw; p += 2) regions[i * hw + p] = 1; // row 3: empty region
  const plan: CounterfactualPlan = { size: S, regions };
  const rows = Int32Array.from([0, 1, 2, 3, 4, 5]);
  const run = (share: number, seed: string) => {
    const x = images.slice();
    const rng = createRng(seed);
    applyCounterfactual(plan, x, rows, n, batchDonors(images, rows, n, rng), share, rng);
    return x;
  };
  assert.deepEqual(run(0, 's'), images);
  assert.deepEqual(run(1, 's'), run(1, 's'));
  assert.notDeepEqual(run(1, 's'), run(1, 't'));
  const varied = run(1, 's');
  assert.deepEqual(varied.subarray(3 * hw * 3, 4 * hw * 3), images.subarray(3 * hw * 3, 4 * hw * 3), 'empty region: unchanged');
  for (let k = 0; k < n; k++) for (let p = 1; p < hw; p += 2) {
    assert.deepEqual(varied.subarray((k * hw + p) * 3, (k * hw + p) * 3 + 3), images.subarray((k * hw + p) * 3, (k * hw + p) * 3 + 3), 'kept pixels bit for bit');
  }
  // every redrawn pixel is another image's pixel at the same place
  for (const k of [0, 1, 2, 4, 5]) {
    const from = [0, 1, 2, 3, 4, 5].filter((j) => j !== k).find((j) => {
      for (let p = 0; p < hw; p += 2) if (varied[(k * hw + p) * 3] !== images[(j * hw + p) * 3]) return false;
      return true;
    });
    assert.notEqual(from, undefined, `image ${k} took its region from another image of the batch`);
  }
});

test('named colours: a value word is drawn first, then one of its colours; no named colour is one clear error', () => {
  const src = namedColours({ values: ['red x', 'blue x', 'white x'], colours: [[[1, 0, 0], [0.5, 0, 0], [0.8, 0, 0]], [[0, 0, 1]], []] });
  const rng = createRng('n');
  let blue = 0;
  for (let i = 0; i < 2000; i++) if (src(rng)[2] === 1) blue++;
  assert.ok(blue > 850 && blue < 1150, `each named value about as often (blue ${blue} of 2000)`);
  assert.throws(() => namedColours({ values: ['a'], colours: [[]] }), UserError);
  const r = randomColours()(createRng('r'));
  assert.ok(Math.max(...r) >= 0.3 - 1e-9 && Math.max(...r) <= 1);
});

test('the VLM\'s colour span: grid colours it names confidently, grouped by value word', async () => {
  const ds = smallDataset('colormnist', { train: 40, val: 10, test: 10 });
  const vlm = loadCheckpoint();
  try {
    const span = await computeAttributeSpan(vlm, ds.train, 'colour of a digit', { levels: 4, sample: 4 });
    const total = span.colours.reduce((a, g) => a + g.length, 0);
    assert.equal(total + span.unnamed, spanCandidates(4).length, 'every candidate named by at most one value');
    assert.ok(span.values.includes('red a digit'));
    const red = span.colours[span.values.indexOf('red a digit')];
    assert.ok(red.some((c) => c[0] === 1 && c[1] === 0 && c[2] === 0), 'pure red is red');
    assert.ok(red.every((c) => c[0] >= c[1] && c[0] >= c[2]), 'what the model calls red is reddest in red');
    const again = await computeAttributeSpan(vlm, ds.train, 'colour of a digit', { levels: 4, sample: 4 });
    assert.deepEqual(again, span, 'deterministic');
  } finally {
    vlm.model.dispose();
  }
});

test('the language augmentation reads no test image and imports no shortcut rule', async () => {
  const ds = smallDataset('colormnist', { train: 40, val: 20, test: 10 });
  const poisoned = new Proxy(ds, { get: (t, k) => { if (k === 'test') throw new Error('the test split was read'); return (t as any)[k]; } });
  const c = resolveConfig({ dataset: 'colormnist', method: 'vanilla', augment: 'prompt', prompt: 'a digit', attributePrompt: 'colour of a digit', promptMass: 0.99, select: 'val-cf', seed: 1 });
  const prompts = await buildPromptConstraint(c, poisoned, 40, 20, 32, { cacheDir: tmp(), span: true });
  const valX = prepareImages(ds.val, 20, 32);
  const cf = buildCounterfactuals(c, poisoned, prompts, { nTrain: 40, nVal: 20, size: 32, valX, trainX: prepareImages(ds.train, 40, 32), batch: 32 });
  assert.ok(cf.train?.plan.regions && cf.train.plan.colours && cf.val);
  // the import closure of the language path, read from the sources: no shortcut rule (lib/data/shortcuts)
  const root = path.join(__dirname, '..');
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const src = fs.readFileSync(file, 'utf8');
    for (const m of src.matchAll(/^import\s+(?!type\b)[^;]*?from\s+'(\.[^']+)'/gm)) {
      const target = path.resolve(path.dirname(file), m[1]);
      const f = fs.existsSync(`${target}.ts`) ? `${target}.ts` : path.join(target, 'index.ts');
      if (fs.existsSync(f)) visit(f);
    }
  };
  for (const f of ['lib/counterfactual/index.ts', 'lib/vlm/embedded/attribute-span.ts']) visit(path.join(root, f));
  const rules = [...seen].filter((f) => f.includes(path.join('lib', 'data', 'shortcuts')));
  assert.deepEqual(rules, [], 'the language counterfactuals import no shortcut rule');
  assert.ok(seen.size > 5, 'the walk followed imports');
});

test('counterfactual validation reads validation images only, with fixed draws; training images do not change it', async () => {
  const ds = smallDataset('decoymnist-hard', { train: 40, val: 30, test: 10 });
  const c = resolveConfig({ dataset: 'decoymnist-hard', method: 'vanilla', maps: 'oracle', prompt: 'a digit', select: 'val-cf', seed: 3 });
  const dir = tmp();
  const prompts = await buildPromptConstraint(c, ds, 40, 30, 32, { cacheDir: dir, span: true });
  const valX = prepareImages(ds.val, 30, 32);
  const a = buildCounterfactuals(c, ds, prompts, { nTrain: 40, nVal: 30, size: 32, valX, trainX: prepareImages(ds.train, 40, 32), batch: 32 });
  const other = { ...ds, train: smallDataset('decoymnist', { train: 40, val: 1, test: 1 }).train };
  const b = buildCounterfactuals({ ...c, seed: 9 } as TrainConfig, other, prompts, { nTrain: 40, nVal: 30, size: 32, valX, trainX: prepareImages(other.train, 40, 32), batch: 32 });
  assert.deepEqual(a.val, b.val, 'neither the training images nor the run seed change the counterfactual validation images');
  const regions = Uint8Array.from(prompts.valCounterfactual!, (w) => (w > 0 ? 1 : 0));
  assert.deepEqual(a.val, counterfactualSplit({ size: 32, regions }, valX, 30));
  assert.notDeepEqual(a.val, valX, 'the frames were redrawn');
  // a background swap: every pixel that changed is free in the image, and equals a validation image's pixel there that is free in that image too
  const hw = 1024;
  for (let k = 0; k < 30; k++) for (let p = 0; p < hw; p++) {
    const i = (k * hw + p) * 3;
    if (a.val![i] === valX[i] && a.val![i + 1] === valX[i + 1] && a.val![i + 2] === valX[i + 2]) continue;
    assert.equal(regions[k * hw + p], 1, `image ${k} pixel ${p}: only free pixels change`);
    assert.ok([...Array(30).keys()].some((j) => j !== k && regions[j * hw + p] === 1 && valX[(j * hw + p) * 3] === a.val![i]), `image ${k} pixel ${p}: from a validation image whose pixel is free`);
  }
  assert.equal(a.train, undefined, '--augment none: no training augmentation');
});

test('val-cf selection picks the epoch of best counterfactual accuracy; it needs prompts', () => {
  const e = (valAcc: number, valCfAcc: number | null) => ({ valAcc, valScore: valAcc, valExcludedShare: null, valCfAcc });
  assert.equal(selectEpoch([e(0.99, 0.3), e(0.95, 0.8), e(0.97, 0.7)], 'val-cf'), 1);
  assert.throws(() => resolveConfig({ dataset: 'decoymnist', method: 'vanilla', select: 'val-cf' }), /--select val-cf .* give --prompt/);
  assert.throws(() => resolveConfig({ dataset: 'decoymnist', method: 'vanilla', augment: 'prompt' }), /--augment prompt .* give --prompt/);
});

test('the language recipe expands to vanilla steps on counterfactual images chosen by val-cf; given options win', () => {
  const c = resolveConfig(applyRecipe('language', { dataset: 'decoymnist-hard', prompt: 'a digit' }));
  assert.equal(c.method, 'vanilla');
  assert.equal(c.augment, 'prompt');
  assert.equal(c.select, 'val-cf');
  assert.equal(c.promptMass, 0.99);
  assert.equal(c.augmentRedraw, 'image', 'the object\'s prompt alone: every free pixel from the other image');
  assert.equal(c.attentionEpoch, 11, 'the vanilla rows\' schedule');
  assert.equal(resolveConfig(applyRecipe('language', { dataset: 'decoymnist-hard', prompt: 'a digit', negativePrompts: ['a frame'] })).augmentRedraw, 'background');
  assert.equal(resolveConfig(applyRecipe('language', { dataset: 'colormnist', prompt: 'a digit', attributePrompt: 'colour of a digit' })).augmentRedraw, 'background');
  assert.equal(resolveConfig(applyRecipe('language', { dataset: 'colormnist', prompt: 'a digit', attributePrompt: 'colour of a digit', augmentRedraw: 'image' })).augmentRedraw, 'image', 'given options win');
  assert.equal(c.maps, 'embedded', 'a prompt brings the embedded VLM');
  assert.equal(resolveConfig(applyRecipe('language', { dataset: 'decoymnist-hard', prompt: 'a digit', augmentShare: 0.5 })).augmentShare, 0.5);
  assert.match(recipeFlags(LANGUAGE_RECIPE), /--method vanilla --augment prompt .*--select val-cf; --augment-redraw background with a --negative-prompt/);
  assert.throws(() => applyRecipe('language', { dataset: 'decoymnist-hard' }), /--recipe language varies what the prompts name/);
  assert.throws(() => applyRecipe('nope', {}), /--recipe must be one of language/);
});

test('the clean reference: shortcut labels drawn independently for training and validation, the test split unchanged', () => {
  const pub = loadDataset('decoymnist-hard');
  const clean = loadDataset('decoymnist-hard', { shortcutLabels: 'random' });
  assert.equal(clean.shortcutLabels, 'random');
  assert.notEqual(clean.checksum, pub.checksum);
  assert.deepEqual(clean.test.images, pub.test.images, 'the test split is the published one');
  assert.deepEqual(clean.train.labels, pub.train.labels, 'labels are the images\' own');
  // the frame's intensity (pixel 0) predicts the label in the published set, and nothing in the clean one
  const agree = (ds: typeof pub) => { let k = 0; for (let i = 0; i < 5000; i++) if (ds.train.images[i * 784] === 255 - 25 * ds.train.labels[i]) k++; return k / 5000; };
  assert.equal(agree(pub), 1);
  assert.ok(agree(clean) > 0.07 && agree(clean) < 0.13, `chance agreement (${agree(clean)})`);
  // the digit pixels are the published ones
  let same = 0;
  for (let p = 2 * 28 + 2; p < 26 * 28; p++) if (clean.train.images[p] === pub.train.images[p]) same++;
  assert.ok(same > 500);
});

test('a short ColorMNIST scan at the recipe\'s settings: no divergence, finite losses, val-cf recorded', async () => {
  const ds = smallDataset('colormnist', { train: 320, val: 100, test: 100 });
  const dir = tmp();
  for (const [seed, share] of [[1, 1], [2, 0.5], [3, 1]] as const) {
    const r = await runTraining(applyRecipe('language', { dataset: 'colormnist', prompt: 'a digit', attributePrompt: 'colour of a digit', epochs: 2, seed, augmentShare: share, lr: 0.01, batch: 32 }), { dataset: ds, promptCacheDir: dir });
    assert.ok(r.epochs.every((e) => Number.isFinite(e.loss) && typeof e.valCfAcc === 'number'));
    assert.equal(r.counterfactual?.colours, 'named');
    assert.equal(r.selectBy, 'val-cf');
  }
});

test('training with augmentation: same seed, same numbers; a resume gives an uninterrupted run\'s numbers', async () => {
  const ds = smallDataset('decoymnist-hard', { train: 160, val: 60, test: 60 });
  const config: Partial<TrainConfig> = { dataset: 'decoymnist-hard', method: 'vanilla', maps: 'oracle', prompt: 'a digit', augment: 'prompt', select: 'val-cf', epochs: 3, seed: 4, lr: 0.01, batch: 32, engine: 'fused' };
  const out = tmp();
  await assert.rejects(runTraining(config, { dataset: ds, outDir: out, haltAfterEpoch: 0 }));
  const resumed = await runTraining(config, { dataset: ds, outDir: out });
  const fresh = await runTraining(config, { dataset: ds });
  const nums = (r: typeof fresh) => r.epochs.map((e) => [e.loss, e.valAcc, e.valCfAcc, e.testAcc]);
  assert.deepEqual(nums(resumed), nums(fresh));
  const plain = await runTraining({ ...config, augment: 'none' }, { dataset: ds });
  assert.notDeepEqual(nums(plain).map((x) => x[0]), nums(fresh).map((x) => x[0]), 'the augmentation changes what is trained on');
  assert.deepEqual(plain.epochs.map((e) => e.valCfAcc === null), [false, false, false]);
  // the batch itself, keyed on the batch
  const images = prepareImages(ds.train, 64, 32);
  const regions = new Uint8Array(64 * 1024).fill(1);
  const t = { plan: { size: 32, regions }, share: 1, swap: false, batcher: new CounterfactualBatcher(images, 64, 32, regions, 32) };
  const rows = Int32Array.from({ length: 32 }, (_, i) => 2 * i);
  const a = new Float32Array(32 * 3072), b = new Float32Array(32 * 3072);
  a.set(counterfactualBatch(t, rows, 32, 4, '0:0'));
  b.set(counterfactualBatch(t, rows, 32, 4, '0:0'));
  assert.deepEqual(a, b);
});

test('the WebAssembly batch step gives the TypeScript reference\'s images bit for bit (gather, redraw, recolour, share)', () => {
  const S = 32, N = 300, row = S * S * 3, n = 32;
  const ds = smallDataset('colormnist', { train: N, val: 1, test: 1 });
  const split = prepareImages(ds.train, N, S);
  const rng0 = createRng('regions');
  const regions = Uint8Array.from({ length: N * S * S }, () => (rng0.next() < 0.6 ? 1 : 0));
  for (let p = 0; p < S * S; p++) regions[5 * S * S + p] = 0; // an image with an empty region
  const colours = namedColours({ values: ['x', 'y'], colours: [[[1, 0, 0], [3 / 7, 1 / 7, 0]], [[0, 5 / 7, 1], [1 / 7, 1 / 7, 1 / 7]]] });
  for (const [name, regs, cols, share, swap] of [['both', regions, colours, 0.7, false], ['regions', regions, undefined, 1, false], ['swap', regions, colours, 1, true],
    ['colours', undefined, colours, 1, false], ['none', undefined, undefined, 1, false]] as const) {
    const batcher = new CounterfactualBatcher(split, N, S, regs, n);
    for (let it = 0; it < 20; it++) {
      const rows = Int32Array.from({ length: n }, (_, k) => (k * 37 + it * 11) % N);
      const out = new Float32Array(n * row), ref = new Float32Array(n * row);
      batcher.batch(rows, n, share, cols, createRng(`b${it}`), out, swap);
      gatherRows(split, row, rows, ref);
      const r = createRng(`b${it}`);
      applyCounterfactual({ size: S, regions: regs, colours: cols }, ref, rows, n, batchDonors(split, rows, n, r), share, r, swap);
      assert.ok(out.every((v, i) => Object.is(v, ref[i])), `${name}, batch ${it}: bit for bit`);
      if (name === 'none') assert.deepEqual(out, ref);
    }
  }
});

test('the notebook\'s recipe steps: counterfactual examples keep every pixel outside the region, and name the VLM\'s colours', async () => {
  const { counterfactualExamples } = await import('../lib/experiments/counterfactual-story');
  const hard = smallDataset('decoymnist-hard', { train: 8, val: 8, test: 1 });
  const ex = await counterfactualExamples(hard, { prompt: 'a digit', negativePrompts: ['a frame'] }, 8);
  const hw = 32 * 32;
  let redrawn = 0;
  for (let k = 0; k < 8; k++) for (let p = 0; p < hw; p++) {
    const i = (k * hw + p) * 3;
    if (ex.regions![k * hw + p] === 0) assert.deepEqual(ex.varied.subarray(i, i + 3), ex.images.subarray(i, i + 3), 'kept outside the region');
    else if (ex.varied[i] !== ex.images[i]) redrawn++;
  }
  assert.ok(redrawn > 0, 'something was redrawn');
  // what the recipe trains on: with a negative prompt, the background swap (the TypeScript reference, drawn as a batch
  // of these 8 images is drawn); every free pixel from the donor would differ
  const rows = Int32Array.from({ length: 8 }, (_, i) => i);
  const asTrained = (swap: boolean) => {
    const ref = ex.images.slice();
    const r = createRng('1:augment:example');
    applyCounterfactual({ size: 32, regions: ex.regions }, ref, rows, 8, batchDonors(ex.images, rows, 8, r), 1, r, swap);
    return ref;
  };
  const swapped = asTrained(true), everyFree = asTrained(false);
  assert.ok(ex.varied.every((v, i) => Object.is(v, swapped[i])), 'the recipe\'s background swap, bit for bit');
  assert.ok(!everyFree.every((v, i) => Object.is(v, ex.varied[i])), 'not the redraw of every free pixel');
  assert.equal(ex.colours, undefined);
  const colour = smallDataset('colormnist', { train: 8, val: 8, test: 1 });
  const cx = await counterfactualExamples(colour, { attributePrompt: 'colour of a digit' }, 8);
  assert.ok(cx.colours && cx.colours.counts.reduce((a, b) => a + b, 0) > 0);
  assert.equal(cx.regions, undefined, 'an attribute alone varies no region');
});
