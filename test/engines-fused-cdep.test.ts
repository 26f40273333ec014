import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { FusedLeNetGap, PARAM_ORDER, unflattenParams } from '../lib/engines/fused/kernel';
import { FusedEngine, fusedUnsupported } from '../lib/engines/fused/engine';
import { TfjsEngine } from '../lib/engines/tfjs/engine';
import { getEngineFactory } from '../lib/engines/registry';
import { createModel, initialWeights } from '../lib/models';
import { cdConv, cdepPenalty, cdMaxPool, cdRelu, decomposeLogits, drawPixels, pixelProbabilities, type CdepRegion } from '../lib/losses/cdep';
import { DEFAULT_OPTIMIZER, IDENTITY3, OFF_GREY3 } from '../lib/engines/types';
import { PAPER_DEFAULTS } from '../lib/train/config';
import '../lib/train/trainer'; // registers the tfjs, fused and auto engines
import { createRng } from '../lib/util/rng';
import { makeWeights, drawBlob, autodiffStep, assertClose } from './engines-fused-helpers';

/**
 * CDEP in the fused kernel (lib/engines/fused/wasm/cdep.c) against tfjs autodiff of lib/losses/cdep.ts on the cpu
 * backend: the decomposition itself, the loss pieces and every parameter's gradient for the decoy-mask region and
 * the colour prior's pixels, on grey and colour images, and whole training steps of the two engines.
 */

const B = 5;

/**
 * Digit-like blobs on a -1 background plus a DecoyMNIST-style 5x5 patch in a random corner (grey: three equal
 * channels, else coloured), and the patch's masks (1 on the patch: what CDEP calls relevant). `noise`: the background
 * is -1 + up to that much noise instead of exactly -1 (see TIE_NOISE).
 */
function makeBatch(seed: number, n: number, grey: boolean, noise = 0) {
  const rng = createRng(`fused-cdep-batch:${seed}`);
  const images = new Float32Array(n * 3072).fill(-1);
  const labels = new Int32Array(n);
  const masks = new Float32Array(n * 1024);
  for (let i = 0; i < n; i++) {
    labels[i] = rng.int(10);
    if (noise) for (let k = 0; k < 3072; k++) images[i * 3072 + k] += noise * rng.next();
    drawBlob(rng, images, i, 6);
    const y0 = rng.next() < 0.5 ? 1 : 26, x0 = rng.next() < 0.5 ? 1 : 26, v = rng.next() * 2 - 1;
    for (let y = y0; y < y0 + 5; y++)
      for (let x = x0; x < x0 + 5; x++) {
        masks[i * 1024 + y * 32 + x] = 1;
        for (let c = 0; c < 3; c++) images[i * 3072 + (y * 32 + x) * 3 + c] = v;
      }
    if (grey) {
      for (let q = 0; q < 1024; q++) {
        const o = i * 3072 + q * 3;
        images[o + 1] = images[o];
        images[o + 2] = images[o];
      }
    }
  }
  return { images, labels, masks };
}
type Batch = ReturnType<typeof makeBatch>;

/** What the trainer builds for --rrr-mode spatial (the mask region) and colour (the pixel prior on the data). */
const maskRegion = (global: number[] | null = null): CdepRegion => ({ kind: 'mask', penalty: { spatial: IDENTITY3, global } });
/** The pixel prior of the noise-free batch (so the draws favour the blobs, as on MNIST). */
const pixelRegion = (seed: number, grey: boolean): CdepRegion => ({ kind: 'pixels', count: 8, probabilities: pixelProbabilities(makeBatch(seed, B, grey).images, B, 32) });

/**
 * Background noise of the cases whose split cuts through the background (the pixel prior, the half-image split). A
 * split boundary inside a constant -1 region splits windows whose sums tie in exact arithmetic (their inputs are
 * equal) into different rel / irr proportions, and float rounding of the two streams then breaks the tie, differently
 * in each engine's summation order (and in each tfjs backend's): max pooling routes both streams to another position
 * of the window, a legitimate but different decomposition. The noise removes the exact ties, so that the comparison
 * is of the rules, not of rounding. (The decoy mask covers the patch, whose pixels are not background: no such ties.)
 */
const TIE_NOISE = 0.02;

/** ceWeight * CE + lambda * CDEP's penalty through tfjs autodiff (the tfjs engine's step without the update). */
const reference = (flat: Float32Array, batch: Batch, region: CdepRegion, lambda: number, ceWeight: number, seed: string) =>
  autodiffStep(flat, batch, B, lambda, ceWeight, ({ model, x, masks }) => cdepPenalty(model, x, region, masks, createRng(seed)));

/** Loads a region into the kernel as the fused engine does (the pixels drawn from the same stream as tfjs's). */
function setRegion(eng: FusedLeNetGap, region: CdepRegion, seed: string): void {
  if (region.kind === 'mask') {
    eng.setPenalty(region.penalty);
    eng.setCdepPixels(null);
  } else {
    eng.setCdepPixels(drawPixels(region.probabilities, region.count, createRng(seed)));
  }
}


const CASES: Array<{ name: string; grey: boolean; pixels?: true; global?: number[]; lambda: number; ceWeight: number }> = [
  { name: 'decoy mask, grey images', grey: true, lambda: 10, ceWeight: 1 },
  { name: 'decoy mask, colour images', grey: false, lambda: 10, ceWeight: 1 },
  { name: 'colour pixel prior, colour images', grey: false, pixels: true, lambda: 3, ceWeight: 1 },
  { name: 'colour pixel prior, grey images', grey: true, pixels: true, lambda: 3, ceWeight: 1 },
  { name: 'mask + colour matrix (prompt form), penalty only', grey: false, global: [...OFF_GREY3], lambda: 1, ceWeight: 0 },
];

test('fused CDEP: loss pieces and every parameter gradient match tfjs autodiff (mask and pixel regions, grey and colour)', async () => {
  await tf.setBackend('cpu');
  const eng = FusedLeNetGap.createSync();
  for (const [i, c] of CASES.entries()) {
    const batch = makeBatch(i, B, c.grey, c.pixels ? TIE_NOISE : 0);
    const region = c.pixels ? pixelRegion(i, c.grey) : maskRegion(c.global ?? null);
    const w = makeWeights('fused-cdep', i);
    const seed = `fused-cdep-draws:${i}`;
    eng.setParams(w);
    setRegion(eng, region, seed);
    const ref = reference(w, batch, region, c.lambda, c.ceWeight, seed);
    assert.ok(ref.penalty > 0.01, `${c.name}: the reference penalty is not trivial (${ref.penalty})`);
    const got = eng.computeGradients(B, batch.images, batch.labels, undefined, { lambda: c.lambda, ceWeight: c.ceWeight, cdep: true, masks: batch.masks });
    assert.ok(Math.abs(got.ce - ref.ce) < 1e-5 * Math.max(1, ref.ce), `${c.name}: ce ${got.ce} vs ${ref.ce}`);
    assert.ok(Math.abs(got.kl - ref.penalty) < 1e-5 * Math.max(1, ref.penalty), `${c.name}: penalty ${got.kl} vs ${ref.penalty}`);
    assert.ok(Math.abs(got.loss - ref.loss) < 1e-5 * Math.max(1, Math.abs(ref.loss)), `${c.name}: loss ${got.loss} vs ${ref.loss}`);
    assertClose(eng.getGradients(), ref.grads, 5e-4, c.name);
    assert.deepEqual(eng.getParams(), w, 'computing gradients does not change the weights');
  }
});

/**
 * A net and images where dead units and the max-pool routing decide the parts. conv1 has positive filters and a
 * small positive bias: its ReLU is on over a bright square in the lower-right corner and off on the dark background
 * (with noise, TIE_NOISE), so the upper rows of h1 are exactly 0 in both streams and conv2 has dead units there
 * (their bias goes by the tie share t of conv2's input), while the relevant 4x4 region sits inside the square, where
 * every unit is on (no window whose parts cancel to a tie with a dead one). The square's pixels vary widely (0.5 to
 * 1): windows that the split cuts must not tie within rounding either, and a small spread makes such near-ties
 * common (a rounding-level difference then routes both streams elsewhere, as with exact ties).
 */
function deadUnitCase(seed: number, grey: boolean) {
  const w = makeWeights('fused-cdep-dead', seed);
  for (let i = 0; i < 450; i++) w[i] = Math.abs(w[i]);
  for (let co = 0; co < 6; co++) w[450 + co] = 0.2;
  const rng = createRng(`fused-cdep-dead-images:${seed}`);
  const images = new Float32Array(B * 3072), labels = new Int32Array(B), masks = new Float32Array(B * 1024);
  const tint = grey ? [1, 1, 1] : [1, 0.8, 0.6];
  for (let i = 0; i < B; i++) {
    labels[i] = rng.int(10);
    for (let q = 0; q < 1024; q++) {
      const y = q >> 5, x = q & 31, bright = y >= 18 && y < 30 && x >= 18 && x < 30;
      const v = bright ? 1 - 0.5 * rng.next() : -1 + TIE_NOISE * rng.next();
      for (let c = 0; c < 3; c++) images[i * 3072 + q * 3 + c] = bright ? v * tint[c] : v;
      if (y >= 22 && y < 26 && x >= 22 && x < 26) masks[i * 1024 + q] = 1;
    }
  }
  return { w, batch: { images, labels, masks } };
}

test('fused CDEP decomposition: the parts match tfjs part by part and sum to the logits, on a net where the bias split of dead units and the max-pool routing decide the parts', async () => {
  await tf.setBackend('cpu');
  const eng = FusedLeNetGap.createSync();
  for (const grey of [true, false]) {
    const { w, batch } = deadUnitCase(grey ? 1 : 2, grey);
    const what = grey ? 'grey' : 'colour';
    eng.setParams(w);
    eng.setPenalty({ spatial: IDENTITY3, global: null });
    eng.setCdepPixels(null);
    const logits = eng.evaluate(B, batch.images, batch.labels).logits;
    const scale = logits.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
    const got = eng.decompose(B, batch.images, batch.masks);
    tf.tidy(() => {
      const model = createModel('lenet-gap', 0, unflattenParams(w));
      const x = tf.tensor4d(batch.images, [B, 32, 32, 3]);
      const rel = tf.mul(x, tf.tensor4d(batch.masks, [B, 32, 32, 1])) as tf.Tensor4D;
      const input = { rel, irr: tf.sub(x, rel) as tf.Tensor4D };
      // the case has power: pooling each stream by its own maximum instead of routing both by their sum's would give
      // other values, and conv2 has dead units (both streams exactly 0) whose tie share is neither 0 nor 1
      const v = (i: number) => model.params[i].variable as tf.Tensor;
      const l1 = cdRelu(cdConv(input, v(0), v(1)));
      const h1 = cdMaxPool(l1);
      assert.ok(tf.max(tf.abs(tf.sub(tf.maxPool(l1.irr, 2, 2, 'valid'), h1.irr))).dataSync()[0] > 1e-3, `${what}: per-stream pooling would differ`);
      const c2r = tf.conv2d(h1.rel, v(2) as tf.Tensor4D, 1, 'valid'), c2i = tf.conv2d(h1.irr, v(2) as tf.Tensor4D, 1, 'valid');
      const dead = tf.sum(tf.cast(tf.logicalAnd(tf.equal(c2r, 0), tf.equal(c2i, 0)), 'int32')).dataSync()[0];
      const sr = tf.sum(tf.abs(h1.rel)).dataSync()[0], si = tf.sum(tf.abs(h1.irr)).dataSync()[0];
      assert.ok(dead >= B * 2 * 10 * 16, `${what}: conv2 has dead units (${dead})`);
      assert.ok(sr > 1e-2 * si && si > 1e-2 * sr, `${what}: their share t = ${sr / (sr + si)} is neither 0 nor 1`);
      const want = decomposeLogits(model, input);
      const wr = want.rel.dataSync(), wi = want.irr.dataSync();
      let relMax = 0;
      for (let i = 0; i < B * 10; i++) {
        relMax = Math.max(relMax, Math.abs(wr[i]));
        assert.ok(Math.abs(got.rel[i] - wr[i]) < 1e-5 * scale, `${what} rel[${i}] ${got.rel[i]} vs tfjs ${wr[i]}`);
        assert.ok(Math.abs(got.irr[i] - wi[i]) < 1e-5 * scale, `${what} irr[${i}] ${got.irr[i]} vs tfjs ${wi[i]}`);
        assert.ok(Math.abs(got.rel[i] + got.irr[i] - logits[i]) < 1e-5 * scale, `${what}: rel + irr = the logits at ${i}`);
      }
      assert.ok(relMax > 1e-2 * scale, `${what}: the masked square has a relevant part`);
      model.dispose();
    });
    // an all-irrelevant split leaves the relevant part exactly 0 (the tie share of every dead unit is 0), an
    // all-relevant one the irrelevant part: a fixed share (1/2) for dead units, or dropping their bias, would not
    const none = eng.decompose(B, batch.images, new Float32Array(B * 1024));
    const all = eng.decompose(B, batch.images, new Float32Array(B * 1024).fill(1));
    for (let i = 0; i < B * 10; i++) {
      assert.equal(none.rel[i], 0);
      assert.equal(all.irr[i], 0);
      assert.ok(Math.abs(none.irr[i] - logits[i]) < 1e-5 * scale && Math.abs(all.rel[i] - logits[i]) < 1e-5 * scale);
    }
  }
});

test("fused CDEP decomposition, pixel region: each pixel's parts match tfjs, with dead conv1 units and footprints cut by the border", async () => {
  // The kernel computes the image's layer 1 once and recomputes per pixel only the pooled units the pixel's 5x5
  // footprint reaches, plus the dead ones (both parts exactly 0), whose bias share follows the pixel's split; conv2 of
  // the irrelevant stream is the image's conv2 minus the relevant stream's. A zero conv1 filter makes every unit of
  // its channel dead (its bias then goes to both streams by the split's share), so a wrong share or a wrong image
  // conv2 shows in the parts; corner pixels cut the footprint at the border.
  await tf.setBackend('cpu');
  const eng = FusedLeNetGap.createSync();
  const { w, batch } = deadUnitCase(3, false);
  for (let i = 0; i < 450; i += 6) w[i] = 0; // conv1 filter of channel 0 (HWIO: co fastest)
  w[450] = 0.3;
  eng.setParams(w);
  eng.setPenalty({ spatial: IDENTITY3, global: null });
  const logits = eng.evaluate(B, batch.images, batch.labels).logits;
  const scale = logits.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
  for (const pixel of [0, 31, 31 * 32, 31 * 32 + 31, 20 * 32 + 21, 17 * 32 + 29, 5 * 32 + 2]) {
    eng.setCdepPixels([pixel]);
    const got = eng.decompose(B, batch.images);
    tf.tidy(() => {
      const model = createModel('lenet-gap', 0, unflattenParams(w));
      const x = tf.tensor4d(batch.images, [B, 32, 32, 3]);
      const onePixel = new Float32Array(B * 1024);
      for (let i = 0; i < B; i++) onePixel[i * 1024 + pixel] = 1;
      const rel = tf.mul(x, tf.tensor4d(onePixel, [B, 32, 32, 1])) as tf.Tensor4D;
      const want = decomposeLogits(model, { rel, irr: tf.sub(x, rel) as tf.Tensor4D });
      const wr = want.rel.dataSync(), wi = want.irr.dataSync();
      let relMax = 0;
      for (let i = 0; i < B * 10; i++) {
        relMax = Math.max(relMax, Math.abs(wr[i]));
        assert.ok(Math.abs(got.rel[i] - wr[i]) < 1e-5 * scale, `pixel ${pixel} rel[${i}] ${got.rel[i]} vs tfjs ${wr[i]}`);
        assert.ok(Math.abs(got.irr[i] - wi[i]) < 1e-5 * scale, `pixel ${pixel} irr[${i}] ${got.irr[i]} vs tfjs ${wi[i]}`);
      }
      // the dead channel's bias share gives every pixel a relevant part, however far from the bright square
      assert.ok(relMax > 1e-7 * scale, `pixel ${pixel}: a relevant part (${relMax})`);
      model.dispose();
    });
  }
});

test('fused CDEP engine: the same steps as the tfjs engine for the same seed (pixel draws from drawSeed and drawKey, SGD)', async () => {
  await tf.setBackend('cpu');
  const batch = makeBatch(21, B, false, TIE_NOISE);
  const region = pixelRegion(21, false);
  const w = makeWeights('fused-cdep-engine', 0);
  const optimizer = { ...DEFAULT_OPTIMIZER, momentum: 0.9 };
  const fused = new FusedEngine({ method: 'cdep', cdep: region, drawSeed: 7, optimizer, initialWeights: unflattenParams(w) });
  const model = createModel('lenet-gap', 0, unflattenParams(w));
  const tfjs = new TfjsEngine({ model, method: 'cdep', cdep: region, drawSeed: 7, optimizer });
  const step = { phase: 'combined' as const, lambda: 3, lr: 0.05 };
  // two keyed batches (the trainer's), one without a key (drawn by the step count)
  for (const drawKey of ['0:0', '0:5', undefined]) {
    const b = { size: B, images: batch.images, labels: batch.labels, drawKey };
    const lf = fused.trainStep(b, step), lt = tfjs.trainStep(b, step);
    assert.ok(Math.abs(lf.att - lt.att) < 1e-5 * lt.att, `penalty ${lf.att} vs ${lt.att} (${drawKey})`);
    assert.ok(Math.abs(lf.loss - lt.loss) < 1e-5 * lt.loss, `loss ${lf.loss} vs ${lt.loss} (${drawKey})`);
  }
  const a = fused.getState(), t = tfjs.getState();
  for (const p of PARAM_ORDER) {
    const fa = a.weights[p.name].data, ta = t.weights[p.name].data, w0 = unflattenParams(w)[p.name].data;
    let d = 0, m = 0;
    for (let i = 0; i < fa.length; i++) { d = Math.max(d, Math.abs(fa[i] - ta[i])); m = Math.max(m, Math.abs(ta[i] - w0[i])); }
    assert.ok(m > 0 && d < 1e-3 * m, `${p.name}: weights after 3 steps differ by ${d} (update size ${m})`);
  }
  // other draws give another penalty: the seed is used
  const other = new FusedEngine({ method: 'cdep', cdep: region, drawSeed: 8, optimizer, initialWeights: unflattenParams(w) });
  const o = other.trainStep({ size: B, images: batch.images, labels: batch.labels, drawKey: '0:0' }, step);
  const fresh = new FusedEngine({ method: 'cdep', cdep: region, drawSeed: 7, optimizer, initialWeights: unflattenParams(w) });
  const f = fresh.trainStep({ size: B, images: batch.images, labels: batch.labels, drawKey: '0:0' }, step);
  assert.notEqual(o.att, f.att);
  tfjs.dispose();
});

test("engine registry: 'auto' and 'fused' run method cdep on lenet-gap with the fused kernel", () => {
  const config = { ...PAPER_DEFAULTS, method: 'cdep' as const, engine: 'auto' };
  const args = { config, optimizer: DEFAULT_OPTIMIZER, initialWeights: initialWeights('lenet-gap', 1), cdep: maskRegion() };
  assert.equal(fusedUnsupported(config), undefined);
  assert.equal(getEngineFactory('auto', config).create(args).name, 'fused');
  assert.equal(getEngineFactory('fused', config).create(args).name, 'fused');
});
