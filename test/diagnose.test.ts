import { test, before } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../lib/backend';
import {
  ATTRIBUTIONS, attributions, attributeAttention, measureAttention, attributeCounterfactual, chanceOffsets, imageColour, regionCounterfactual, diagnose, diagnoseImages, diagnosisDraws, diagnosisJson, diagnosisRegions, gradientEnergy,
  modelOfWeights, netFromModel, netFromWeights, regionAttention, translateRegion, MAX_AREA_SHARE,
  type Candidate, type DiagnosedNet, type DiagnosisImages,
} from '../lib/diagnose';
import type { Model } from '../lib/models/types';
import { createModel, initialWeights } from '../lib/models';
import { runTraining, resolveConfig } from '../lib/train';
import type { ShortcutDataset } from '../lib/data/types';
import { writeSealedJson } from '../lib/util/sealed';
import { createRng } from '../lib/util/rng';
import { diagnosisRows, diagnosisFigure } from '../lib/report/diagnosis-figure';
import { smallDataset } from './train-helpers';
import { tmpDirs } from './tmp-helpers';
import { ltl, oneLineError } from './fault-helpers';
import '../lib/vlm/register'; // the VLM map sources, as the package's entry points provide them

const tmp = tmpDirs('ltl-diagnose-');
before(async () => { await initBackend('wasm'); });

const S = 32, HW = S * S, ROW = HW * 3;

/** n random images [n, S, S, 3] in [-1, 1] and labels 0..9. */
function randomData(n: number, seed: string): DiagnosisImages {
  const rng = createRng(seed);
  return {
    dataset: 'random', split: 'val', count: n,
    images: Float32Array.from({ length: n * ROW }, () => 2 * rng.next() - 1),
    labels: Int32Array.from({ length: n }, (_, i) => i % 10),
  };
}

/**
 * A hand-made net that reads only the centre [lo, hi) x [lo, hi) of its input: logits = W^T (the centre's pixels,
 * flattened). Its prediction cannot depend on any other pixel, and its input gradient is 0 everywhere else.
 */
function centreNet(lo: number, hi: number): Model {
  const side = hi - lo;
  const w = tf.tensor2d(Float32Array.from({ length: side * side * 3 * 10 }, (_, i) => Math.sin(1.7 * i + 0.3)), [side * side * 3, 10]);
  const forward = (x: tf.Tensor4D) => {
    const c = tf.slice(x, [0, lo, lo, 0], [-1, side, side, 3]) as tf.Tensor4D;
    return { logits: tf.matMul(tf.reshape(c, [x.shape[0], side * side * 3]), w) as tf.Tensor2D, features: c };
  };
  return {
    name: 'lenet-gap', inputSize: S, grid: { height: side, width: side }, featureChannels: 3, params: [],
    forward, head: () => { throw new Error('not used'); }, dispose: () => w.dispose(),
  };
}

/** Maps [n, S, S]: 1 where `inside(y, x)`, else 0. */
function maskMaps(n: number, inside: (y: number, x: number) => boolean) {
  const data = new Float32Array(n * HW);
  for (let i = 0; i < n; i++) for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) data[i * HW + y * S + x] = inside(y, x) ? 1 : 0;
  return { count: n, height: S, width: S, data };
}

/**
 * Two region candidates for centreNet(12, 20): "the border", the band outside [8, 24)^2, whose region (threshold,
 * dilation by 1) stays clear of the centre the net reads, and "the centre", [12, 20)^2, exactly what it reads.
 */
function borderAndCentre(n: number): Candidate[] {
  return [
    { kind: 'region', prompt: 'the border', maps: maskMaps(n, (y, x) => y < 8 || y >= 24 || x < 8 || x >= 24) },
    { kind: 'region', prompt: 'the centre', maps: maskMaps(n, (y, x) => y >= 12 && y < 20 && x >= 12 && x < 20) },
  ];
}

test('a net that ignores a region: redrawing it flips nothing and costs nothing, and no gradient energy is there', () => {
  const model = centreNet(12, 20);
  const net = netFromModel(model);
  const data = randomData(60, 'ignore');
  // labels that the centre decides (the net's own predictions): an image of the same class carries the same centre
  // information, so the same-class redraw of the centre keeps the prediction
  data.labels = net.predict(data.images, data.count);
  const d = diagnoseImages(net, data, borderAndCentre(data.count), { examples: 2 });
  const b = d.prompts.find((p) => p.prompt === 'the border')!, c = d.prompts.find((p) => p.prompt === 'the centre')!;
  assert.equal(b.changed, data.count, 'every image was varied');
  assert.equal(b.flipRate, 0);
  assert.equal(b.accuracyDrop, 0);
  assert.equal(b.sameClassFlipRate, 0);
  assert.equal(b.share, 0, 'no gradient energy on pixels the net does not read');
  assert.ok(b.chance > 0.5, `the border band's area ${b.chance}`);
  assert.ok(b.chanceFlipRate > 0, 'a region of the same area at a random place does reach the centre');
  // the centre it reads: redrawn, the predictions change; all of the gradient energy is there
  assert.ok(c.flipRate > 0.5, `centre flip rate ${c.flipRate}`);
  assert.equal(c.sameClassFlipRate, 0, 'redrawn from an image the net puts in the same class, the prediction stays');
  assert.ok(Math.abs(c.share! - 1) < 1e-6, `centre share ${c.share}`);
  assert.equal(d.top, 'the centre');
  assert.equal(d.prompts[0].prompt, 'the centre');
  assert.match(d.verdict, /relies most on "the centre"/);
  // the next step names the prompt; both regions are at one place in every image, so one region for all is offered
  assert.deepEqual(d.prompts.map((p) => p.onePlace), [true, true]);
  assert.equal(d.next, 'if "the centre" is a shortcut, not the object: ltl train --recipe language --prompt <the object> --negative-prompt "the centre" --negative-region shared (its maps agree on one place in every image: their mean exceeds 0.5 there)');
  // a region that moves between images is not at one place: no shared region offered
  const moving = diagnoseImages(net, data, [{ kind: 'region', prompt: 'a moving patch', maps: maskMaps(data.count, (y, x) => y >= 12 && y < 20 && x >= 12 && x < 20) }].map((c) => {
    const m = c.maps, hw = S * S, shifted = new Float32Array(m.data.length);
    // image i's patch shifted to one of four quadrants: the mean map is at most about a quarter
    for (let i = 0; i < m.count; i++) for (let p = 0; p < hw; p++) shifted[i * hw + p] = m.data[i * hw + ((p + (i % 4) * 8 * (S + 1)) % hw)];
    return { ...c, maps: { ...m, data: shifted } } as Candidate;
  }), { examples: 0 });
  assert.equal(moving.prompts[0].onePlace, false);
  assert.ok(moving.next === null || !moving.next.includes('--negative-region shared'));
  assert.equal(d.settings.attribution, 'gradient');
  // the examples show the varied images and what the net said before and after
  const ex = d.examples.filter((e) => e.prompt === 'the border');
  assert.equal(ex.length, 2);
  for (const e of ex) {
    assert.equal(e.before, e.after);
    assert.ok(e.counterfactual.some((v, p) => v !== e.image[p]));
    assert.equal(e.energy.length, HW);
  }
  model.dispose();
});

test('chance levels: a uniform map covers the image (share 1, chance 1, warning); an empty map names nothing (no verdict)', () => {
  const net = netFromWeights('lenet-gap', initialWeights('lenet-gap', 3));
  const data = randomData(30, 'chance');
  const d = diagnoseImages(net, data, [
    { kind: 'region', prompt: 'everything', maps: maskMaps(data.count, () => true) },
    { kind: 'region', prompt: 'nothing', maps: maskMaps(data.count, () => false) },
  ], { examples: 1 });
  const u = d.prompts.find((p) => p.prompt === 'everything')!, e = d.prompts.find((p) => p.prompt === 'nothing')!;
  assert.equal(u.chance, 1);
  assert.ok(Math.abs(u.share! - 1) < 1e-9);
  assert.ok(Math.abs(u.lift! - 1) < 1e-9);
  assert.ok(u.chance > MAX_AREA_SHARE);
  assert.match(u.warning!, /covers 100\.0 % of the image/);
  assert.equal(e.chance, 0);
  assert.equal(e.share, 0);
  assert.equal(e.lift, null);
  assert.equal(e.found, 0);
  assert.equal(e.changed, 0);
  assert.equal(e.flipRate, 0, 'nothing is redrawn where the map is empty');
  assert.equal(e.chanceFlipRate, 0);
  assert.match(e.warning!, /empty on 30 of 30 images/);
  assert.equal(d.top, null, 'no verdict from prompts with warnings');
  assert.match(d.verdict, /no verdict/);
  assert.deepEqual(d.warnings, [u.warning, e.warning]);
  assert.equal(d.examples.filter((x) => x.prompt === 'nothing').length, 0, 'no example of a variation that changes nothing');
});

test('attribute attention: the share of gradient energy along C, and tr(C) / 3 as its chance level', () => {
  const count = 2;
  const energy = { count, size: 2, energy: new Float32Array(count * 4), moment: new Float64Array(count * 9) };
  // image 0: gradients only along red; image 1: along the grey axis (1,1,1)
  energy.moment.set([4, 0, 0, 0, 0, 0, 0, 0, 0], 0);
  energy.moment.set([1, 1, 1, 1, 1, 1, 1, 1, 1], 9);
  const red = [1, 0, 0, 0, 0, 0, 0, 0, 0];
  const a = attributeAttention(energy, red);
  assert.ok(Math.abs(a.chance - 1 / 3) < 1e-12);
  assert.ok(Math.abs(a.share! - (1 + 1 / 3) / 2) < 1e-12); // image 0: all of it; image 1: a third
  const offGrey = [2 / 3, -1 / 3, -1 / 3, -1 / 3, 2 / 3, -1 / 3, -1 / 3, -1 / 3, 2 / 3];
  const g = attributeAttention(energy, offGrey);
  assert.ok(Math.abs(g.chance - 2 / 3) < 1e-12);
  assert.ok(Math.abs(g.share! - (2 / 3 + 0) / 2) < 1e-12); // the grey image has no energy off the grey axis
  const none = attributeAttention({ ...energy, moment: new Float64Array(count * 9) }, red);
  assert.equal(none.share, null, 'no gradient: no share');
  // a region share over images without any gradient energy is unknown too, its chance the region's area
  const r = regionAttention({ count: 1, size: 2, energy: new Float32Array(4), moment: new Float64Array(9) }, Uint8Array.from([1, 1, 0, 0]));
  assert.deepEqual(r, { share: null, chance: 0.5, images: 0 });
});

test('the chance region: a cyclic shift keeps the area exactly, never the zero shift; draws are fixed by the seed', () => {
  const size = 6, src = new Uint8Array(size * size);
  for (let x = 0; x < size; x++) { src[x] = 1; src[size + x] = 1; } // the top two rows: a band
  const out = new Uint8Array(size * size);
  translateRegion(src, 0, size, 3, 5, out, 0);
  assert.equal(out.reduce((a, b) => a + b, 0), 12);
  assert.ok(out.slice(3 * size, 5 * size).every((v) => v === 1), 'rows 3 and 4 hold the shifted band');
  const off = chanceOffsets(500, size, createRng('o'));
  for (let i = 0; i < 500; i++) assert.ok(off[2 * i] !== 0 || off[2 * i + 1] !== 0);
  assert.deepEqual(off, chanceOffsets(500, size, createRng('o')));
  const draws = diagnosisDraws(40, size, 1, Int32Array.from({ length: 40 }, (_, i) => i % 4));
  for (let i = 0; i < 40; i++) {
    assert.notEqual(draws.donorOf[i], i);
    assert.equal(draws.sameClassDonorOf[i] % 4, i % 4, 'the same-class donor has the image\'s label');
    assert.notEqual(draws.sameClassDonorOf[i], i);
  }
});

test('a diagnosis is fixed by its seed; the fused predictions of LeNet-GAP agree with tfjs', () => {
  const weights = initialWeights('lenet-gap', 5);
  const net = netFromWeights('lenet-gap', weights);
  const model = createModel('lenet-gap', 0, weights);
  const data = randomData(50, 'seed');
  const maps = maskMaps(data.count, (y) => y < 10);
  const c: Candidate[] = [{ kind: 'region', prompt: 'the top', maps }];
  const a = diagnosisJson(diagnoseImages(net, data, c, { seed: 4 })), b = diagnosisJson(diagnoseImages(net, data, c, { seed: 4 }));
  assert.deepEqual(a, b);
  const other = diagnosisJson(diagnoseImages(net, data, c, { seed: 5 }));
  assert.equal(other.prompts[0].share, a.prompts[0].share, 'attention does not depend on the draws');
  const tfjsPred = netFromModel(model).predict(data.images, data.count), fused = net.predict(data.images, data.count);
  const agree = fused.filter((p, i) => p === tfjsPred[i]).length;
  assert.ok(agree >= data.count - 1, `fused and tfjs agree on ${agree} of ${data.count}`);
  // the figure's table and bar chart read the record
  assert.equal(diagnosisRows(a).length, 1);
  assert.equal(diagnosisFigure(a).data.length, 5);
  model.dispose();
  net.dispose();
});

test('the test split is not read unless asked for; regions come from the embedded VLM\'s maps of the split measured', async () => {
  const small = smallDataset('decoymnist-hard', { train: 40, val: 24, test: 8 });
  let testReads = 0;
  const ds = Object.defineProperty({ ...small }, 'test', { get: () => { testReads++; throw new Error('the test split was read'); } }) as ShortcutDataset;
  const net = netFromWeights('lenet-gap', initialWeights('lenet-gap', 1));
  const cacheDir = tmp();
  const d = await diagnose(net, ds, { prompts: ['a digit', 'a frame'], limit: 20, cacheDir, examples: 1 });
  assert.equal(testReads, 0);
  assert.equal(d.split, 'val');
  assert.equal(d.images, 20);
  assert.deepEqual(d.prompts.map((p) => p.prompt).sort(), ['a digit', 'a frame']);
  for (const p of d.prompts) {
    assert.equal(p.found, 20, `${p.prompt} is found on every image`);
    assert.ok(p.chance > 0 && p.chance < 1);
  }
  // the maps of the split measured: the frame's region lies on the frame, the digit's off it
  const frame = d.prompts.find((p) => p.prompt === 'a frame')!, digit = d.prompts.find((p) => p.prompt === 'a digit')!;
  assert.ok(frame.chance > digit.chance, 'a frame covers more of the image than a digit');
  await assert.rejects(diagnose(net, ds, { prompts: ['a digit'], split: 'test', limit: 4, cacheDir }), /the test split was read/);
  assert.equal(testReads, 1, 'asked for, it is read');
  await assert.rejects(diagnose(net, ds, { prompts: [], cacheDir }), /at least one prompt/);
  await assert.rejects(diagnose(net, ds, { prompts: ['zzz qqq'], limit: 4, cacheDir }), /no word the embedded VLM knows/);
  net.dispose();
});

test('every attribution puts nothing on pixels a net does not read, and all of it on those it reads', () => {
  const model = centreNet(12, 20);
  const net = netFromModel(model);
  const data = randomData(20, 'attributions');
  data.labels = net.predict(data.images, data.count);
  const candidates = borderAndCentre(data.count);
  const flips: number[] = [];
  for (const attribution of ATTRIBUTIONS) {
    const d = diagnoseImages(net, data, candidates, { examples: 1, attribution });
    assert.equal(d.settings.attribution, attribution);
    const b = d.prompts.find((p) => p.prompt === 'the border')!, c = d.prompts.find((p) => p.prompt === 'the centre')!;
    assert.equal(b.share, 0, `${attribution}: border share`);
    assert.ok(Math.abs(c.share! - 1) < 1e-6, `${attribution}: centre share ${c.share}`);
    // the reliance measure does not depend on the attribution
    flips.push(c.flipRate);
    if (attribution !== 'gradient') assert.match(d.verdict, new RegExp(`of its ${attribution} energy`));
  }
  assert.ok(flips[0] > 0.5 && flips.every((f) => f === flips[0]), `centre flip rates ${flips}`);
  model.dispose();
});

test('the attention measure alone, for several attributions at once, gives the diagnosis\'s share, chance and lift', () => {
  const model = centreNet(12, 20);
  const net = netFromModel(model);
  const data = randomData(20, 'attention-alone');
  // a region that cuts through what the net reads, so that the shares are neither 0 nor 1
  const candidates: Candidate[] = [...borderAndCentre(data.count), { kind: 'region', prompt: 'the left half', maps: maskMaps(data.count, (_y, x) => x < 16) }];
  const records = measureAttention(net, data, candidates, ATTRIBUTIONS);
  assert.deepEqual(records.map((r) => `${r.attribution}/${r.prompt}`), ATTRIBUTIONS.flatMap((a) => candidates.map((c) => `${a}/${c.prompt}`)));
  for (const attribution of ATTRIBUTIONS) {
    const d = diagnoseImages(net, data, candidates, { examples: 0, attribution });
    for (const p of d.prompts) {
      const r = records.find((x) => x.attribution === attribution && x.prompt === p.prompt)!;
      assert.deepEqual({ share: r.share, chance: r.chance, lift: r.lift }, { share: p.share, chance: p.chance, lift: p.lift }, `${attribution} ${p.prompt}`);
    }
    const half = records.find((x) => x.attribution === attribution && x.prompt === 'the left half')!;
    assert.ok(half.share! > 0.2 && half.share! < 0.8, `${attribution}: left half share ${half.share}`);
  }
  model.dispose();
});

test('integrated gradients: completeness (they sum to logit(x) - logit(black)) on a net linear in its input; the others by definition', () => {
  const model = centreNet(10, 22);
  const net = netFromModel(model);
  const data = randomData(4, 'ig');
  const pred = net.predict(data.images, data.count);
  const logits = (x: Float32Array, n: number) => tf.tidy(() => model.forward(tf.tensor4d(x, [n, S, S, 3])).logits.arraySync() as number[][]);
  const z = logits(data.images, 4), z0 = logits(new Float32Array(4 * ROW).fill(-1), 4);
  const ig = attributions(net, 'integrated-gradients', data.images, 4, pred);
  const lg = attributions(net, 'logit-gradient', data.images, 4, pred);
  const g = attributions(net, 'gradient', data.images, 4), gx = attributions(net, 'gradient-x-input', data.images, 4);
  for (let i = 0; i < 4; i++) {
    let sum = 0;
    for (let k = i * ROW; k < (i + 1) * ROW; k++) {
      sum += ig[k];
      // linear net: the path's gradient is constant, so IG = logit gradient x (x - black)
      assert.ok(Math.abs(ig[k] - lg[k] * (data.images[k] + 1)) < 1e-4, `ig ${ig[k]} vs ${lg[k] * (data.images[k] + 1)}`);
      assert.ok(Math.abs(gx[k] - g[k] * (data.images[k] + 1)) < 1e-6);
    }
    const want = z[i][pred[i]] - z0[i][pred[i]];
    assert.ok(Math.abs(sum - want) < 1e-3 * Math.max(1, Math.abs(want)), `image ${i}: sum ${sum} vs ${want}`);
  }
  // a net without logit gradients cannot give the attributions of the predicted class: one clear line
  const bare: DiagnosedNet = { model: 'lenet-gap', inputSize: S, predict: net.predict, inputGradients: net.inputGradients, dispose() {} };
  assert.throws(() => attributions(bare, 'integrated-gradients', data.images, 4, pred), /needs the gradient of one class's logit/);
  model.dispose();
});

test('ltl diagnose: a trained run folder gives one JSON record; bad run folders and checkpoints are one clear line', { timeout: 300_000 }, async () => {
  const small = smallDataset('decoymnist-hard', { train: 200, val: 40, test: 20 });
  const dir = tmp();
  await runTraining({ dataset: 'decoymnist-hard', method: 'vanilla', limit: 200, evalLimit: 40, epochs: 1, attentionEpoch: 0 }, { outDir: dir, dataset: small });
  const r = ltl(['diagnose', '--run', dir, '--prompts', 'a digit', 'a frame', '--limit', '30', '--json', '--figure', path.join(dir, 'fig.png')], { env: { LTL_PROMPT_CACHE_DIR: tmp() } });
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.equal(j.images, 30);
  assert.equal(j.split, 'val');
  assert.equal(j.prompts.length, 2);
  for (const p of j.prompts) {
    for (const k of ['prompt', 'kind', 'flipRate', 'accuracyDrop', 'chanceFlipRate', 'sameClassFlipRate', 'share', 'chance', 'lift']) assert.ok(k in p, k);
  }
  assert.ok('top' in j && typeof j.verdict === 'string');
  assert.ok(!('examples' in j), 'the example images stay out of the JSON');
  assert.ok(fs.statSync(path.join(dir, 'fig.png')).size > 1000, 'the figure was written');
  assert.equal(j.settings.attribution, 'gradient');
  assert.deepEqual(j.settings.regions, { threshold: 0.5, mass: null, radius: 1 });
  const ig = ltl(['diagnose', '--run', dir, '--prompts', 'a digit', '--limit', '10', '--json', '--attribution', 'integrated-gradients', '--region-threshold', '0.6', '--region-dilate', '0'], { env: { LTL_PROMPT_CACHE_DIR: tmp() } });
  assert.equal(ig.status, 0, ig.stderr);
  const k = JSON.parse(ig.stdout.trim().split('\n').pop()!);
  assert.equal(k.settings.attribution, 'integrated-gradients');
  assert.deepEqual(k.settings.regions, { threshold: 0.6, mass: null, radius: 0 });
  assert.match(oneLineError(ltl(['diagnose', '--run', dir, '--prompts', 'a digit', '--attribution', 'saliency']), assert), /--attribution must be one of gradient, logit-gradient, gradient-x-input, integrated-gradients, not 'saliency'/);
  assert.match(oneLineError(ltl(['diagnose', '--run', dir, '--prompts', 'a digit', '--region-threshold', '1']), assert), /--region-threshold must be a number in \(0, 1\)/);
  assert.match(oneLineError(ltl(['diagnose', '--run', dir, '--prompts', 'a digit', '--region-dilate', '-1']), assert), /--region-dilate must be an integer >= 0/);
  assert.match(oneLineError(ltl(['diagnose', '--run', dir, '--prompts', 'a digit', '--examples', '2']), assert), /--examples goes with --figure/);
  assert.match(oneLineError(ltl(['diagnose', '--run', dir, '--prompts', 'a digit', '--examples', '51', '--figure', path.join(dir, 'f.png')]), assert), /--examples must be at most 50/);
  // a diagnosis that fails leaves no folder that --figure made for it
  const figDir = path.join(tmp(), 'new', 'deeper');
  assert.match(oneLineError(ltl(['diagnose', '--run', dir, '--prompts', 'qqzz', '--figure', path.join(figDir, 'f.png')], { env: { LTL_PROMPT_CACHE_DIR: tmp() } }), assert), /has no word the embedded VLM knows/);
  assert.ok(!fs.existsSync(path.dirname(figDir)), 'the folders made for the figure were removed');

  const empty = tmp();
  assert.match(oneLineError(ltl(['diagnose', '--run', path.join(empty, 'nope'), '--prompts', 'a digit']), assert), /--run .*nope does not exist/);
  assert.match(oneLineError(ltl(['diagnose', '--run', empty, '--prompts', 'a digit']), assert), /is not a run folder: it has no config\.json/);
  const noWeights = tmp();
  writeSealedJson(path.join(noWeights, 'config.json'), resolveConfig({ dataset: 'decoymnist-hard', method: 'vanilla' }));
  assert.match(oneLineError(ltl(['diagnose', '--run', noWeights, '--prompts', 'a digit']), assert), /no checkpoint in .*: train the run first/);
  const bad = path.join(empty, 'selected.safetensors');
  fs.writeFileSync(bad, Buffer.from('not a checkpoint at all, just some bytes'));
  assert.match(oneLineError(ltl(['diagnose', '--model', bad, '--dataset', 'decoymnist-hard', '--prompts', 'a digit']), assert), /selected\.safetensors/);
  assert.match(oneLineError(ltl(['diagnose', '--model', path.join(empty, 'missing.safetensors'), '--dataset', 'decoymnist-hard', '--prompts', 'a digit']), assert), /does not exist/);
  assert.match(oneLineError(ltl(['diagnose', '--model', path.join(dir, 'selected.safetensors'), '--prompts', 'a digit']), assert), /--model needs --dataset/);
  assert.match(oneLineError(ltl(['diagnose', '--prompts', 'a digit']), assert), /either --run DIR .* or --model FILE/);
  assert.match(oneLineError(ltl(['diagnose', '--run', dir, '--prompts', 'a digit', '--examples', '0', '--figure', path.join(empty, 'f.png')]), assert), /--examples must be an integer >= 1/);
  assert.match(oneLineError(ltl(['diagnose', '--run', dir, '--dataset', 'colormnist', '--prompts', 'a digit']), assert), /--dataset and --data-seed go with --model/);
});

test('ltl diagnose --run: missing selected weights, or weights of another epoch, are one line naming the file, never the last checkpoint instead', { timeout: 300_000 }, async () => {
  const small = smallDataset('decoymnist-hard', { train: 200, val: 40, test: 20 });
  const dir = tmp();
  // A learning rate too small to change a prediction: both epochs tie, and a tie selects the first (not the last).
  const result = await runTraining({ dataset: 'decoymnist-hard', method: 'vanilla', limit: 200, evalLimit: 40, epochs: 2, lr: 1e-12 }, { outDir: dir, dataset: small });
  assert.equal(result.selectedEpoch, 0);
  const selected = path.join(dir, 'selected.safetensors');
  const args = ['diagnose', '--run', dir, '--prompts', 'a digit', '--limit', '10'];
  fs.rmSync(selected);
  assert.match(oneLineError(ltl(args), assert), /selected\.safetensors is missing: the weights of epoch 1, which validation selected, are gone; no resume can rebuild them/);
  fs.copyFileSync(path.join(dir, 'checkpoint.safetensors'), selected);
  assert.match(oneLineError(ltl(args), assert), /selected\.safetensors holds the weights of epoch 2, not of epoch 1 that validation selected \(result\.json\)/);
});

test('the model of a bare checkpoint is read from its weights', () => {
  assert.equal(modelOfWeights(initialWeights('cdep', 1), 'x'), 'cdep');
  assert.equal(modelOfWeights(initialWeights('lenet-gap', 1), 'x'), 'lenet-gap');
  assert.throws(() => modelOfWeights({ w: { shape: [2], data: new Float32Array(2) } }, 'checkpoint f'), /checkpoint f holds weights of no model/);
});

test('regions of maps on another grid are moved to the input grid (any touched pixel counts)', () => {
  const maps = { count: 1, height: 28, width: 28, data: new Float32Array(784) };
  for (let x = 0; x < 28; x++) { maps.data[x] = 1; maps.data[28 + x] = 1; } // the top two rows of 28
  const r = diagnosisRegions(maps, S, { threshold: 0.5, mass: null, radius: 0 });
  assert.equal(r.length, HW);
  for (let x = 0; x < S; x++) assert.equal(r[x], 1);
  assert.equal(r[(S - 1) * S], 0, 'the bottom row is not in it');
});

test('gradient energy: per-pixel energies sum to the moment\'s trace', () => {
  const net: DiagnosedNet = netFromWeights('lenet-gap', initialWeights('lenet-gap', 2));
  const data = randomData(3, 'energy');
  const e = gradientEnergy(net, data.images, data.count);
  for (let i = 0; i < 3; i++) {
    const sum = e.energy.subarray(i * HW, (i + 1) * HW).reduce((a, b) => a + b, 0);
    const tr = e.moment[i * 9] + e.moment[i * 9 + 4] + e.moment[i * 9 + 8];
    assert.ok(sum > 0 && Math.abs(sum - tr) / tr < 1e-4, `${sum} vs ${tr}`);
  }
});

test('the attribute counterfactual recolours; its chance twin changes as many pixels elsewhere; same class keeps the colour', () => {
  const n = 4, size = 8, hw = size * size;
  const images = new Float32Array(n * hw * 3).fill(-1);
  const colour = [0.8, 0.2, 0.4];
  for (let i = 0; i < n; i++) for (let p = 0; p < hw; p++) {
    const y = Math.floor(p / size), x = p % size;
    if (y >= 2 && y < 5 && x === 3 + (i % 2)) for (let c = 0; c < 3; c++) images[(i * hw + p) * 3 + c] = 2 * colour[c] - 1; // a 3-pixel stroke
  }
  assert.deepEqual(imageColour(images, 0, size).map((v) => +v.toFixed(6)), colour);
  const labels = Int32Array.from([0, 0, 1, 1]);
  const draws = diagnosisDraws(n, size, 1, labels);
  const vary = attributeCounterfactual(images, size, Array(n).fill([0.1, 0.9, 0.1] as const), draws);
  const cf = images.slice(), v = { cf, chance: cf.slice(), sameClass: cf.slice() };
  assert.equal(vary(v, 0, n), n);
  for (let i = 0; i < n; i++) {
    const changed = (a: Float32Array) => { let c = 0; for (let p = 0; p < hw; p++) if ([0, 1, 2].some((k) => a[(i * hw + p) * 3 + k] !== images[(i * hw + p) * 3 + k])) c++; return c; };
    assert.equal(changed(v.cf), 3, 'the stroke is recoloured, nothing else');
    assert.ok(changed(v.chance) <= 3, 'the chance twin redraws 3 pixels (some may hold the donor\'s own values)');
    // unchanged up to the recolour's float32 rounding (lib/counterfactual/recolour.ts)
    for (let p = 0; p < hw * 3; p++) assert.ok(Math.abs(v.sameClass[i * hw * 3 + p] - images[i * hw * 3 + p]) < 1e-6, 'recoloured with the colour of an image of the same class: unchanged');
  }
  // a region redraw that keeps the colour: the donor's strokes take the image's own colour
  const other = images.slice();
  for (let p = 0; p < hw * 3; p += 3) if (other[hw * 3 * 2 + p] > -1) { other[hw * 3 * 2 + p] = 1; other[hw * 3 * 2 + p + 1] = -1; other[hw * 3 * 2 + p + 2] = -1; } // image 2 is red
  const all = new Uint8Array(n * hw).fill(1);
  const keep = regionCounterfactual(other, size, all, draws, { keepColour: true });
  const k = { cf: other.slice(), chance: other.slice(), sameClass: other.slice() };
  keep(k, 0, n);
  for (let i = 0; i < n; i++) {
    const own = imageColour(other, i, size), got = imageColour(k.cf, i, size);
    assert.deepEqual(got.map((x) => +x.toFixed(5)), own.map((x) => +x.toFixed(5)), `image ${i} keeps its colour`);
  }
});

test('the verdict says when the input gradients do not show what the net relies on (lift below 1), and only then', async () => {
  const { verdictOf } = await import('../lib/diagnose/verdict');
  const base = {
    prompt: 'a frame', kind: 'region' as const, flipRate: 0.57, accuracyDrop: 0.53, chanceFlipRate: 0.58, chanceAccuracyDrop: 0.5,
    sameClassFlipRate: 0.03, sameClassAccuracyDrop: 0, margin: 0.54, chance: 0.44, changed: 100, found: 100, keepsColour: false, warning: null,
  };
  const hidden = verdictOf([{ ...base, share: 0.32, lift: 0.72 }]);
  assert.equal(hidden.top, 'a frame');
  assert.match(hidden.verdict, /lift 0\.72\); the input gradients do not show it \(lift below 1\): the flip rate, not the gradient share, is the measure to trust here$/);
  for (const shown of [verdictOf([{ ...base, share: 0.88, lift: 2 }]), verdictOf([{ ...base, share: null, lift: null }])]) {
    assert.doesNotMatch(shown.verdict, /do not show it/);
  }
  // another attribution is named as such; no energy at all, and a variation that raises accuracy, are said so
  assert.match(verdictOf([{ ...base, share: 0.32, lift: 0.72 }], undefined, 'integrated-gradients').verdict,
    /32\.0 % of its integrated-gradients energy lies inside its region .*; its integrated-gradients attributions do not show it/);
  assert.match(verdictOf([{ ...base, share: null, lift: null }], undefined, 'logit-gradient').verdict, /the net's logit-gradient attributions are zero on every image$/);
  assert.match(verdictOf([{ ...base, share: 0.88, lift: 2, accuracyDrop: -0.123 }]).verdict, /and raises accuracy by 12\.3 points;/);
});

test('ltl diagnose: --figure must name a .png; --model with a tensor file of another kind says so, with no advice to delete it', () => {
  const dir = tmp();
  assert.match(oneLineError(ltl(['diagnose', '--model', path.join(dir, 'x.safetensors'), '--dataset', 'decoymnist', '--prompts', 'a digit', '--figure', path.join(dir, 'fig.jpg')]), assert),
    /--figure writes a PNG image: name it \*\.png, not 'fig\.jpg'/);
  const vlmWeights = path.join(__dirname, '..', 'data', 'vlm', 'weights.safetensors');
  const line = oneLineError(ltl(['diagnose', '--model', vlmWeights, '--dataset', 'decoymnist', '--prompts', 'a digit']), assert);
  assert.match(line, /--model .*weights\.safetensors is a tensor file of another kind \(format "ltl-embedded-vlm"\), not a CNN checkpoint/);
  assert.doesNotMatch(line, /delete it|corrupt/);
});
