import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { FusedLeNetGap, PARAM_ORDER, PARAM_COUNT } from '../lib/engines/fused/kernel';
import { FUSED_MAX_EG_REFERENCES, FusedEngine, fusedUnsupported } from '../lib/engines/fused/engine';
import { getEngineFactory } from '../lib/engines/registry';
import '../lib/engines'; // registers the tfjs, fused and auto engines
import { PAPER_DEFAULTS } from '../lib/train/config';
import { TfjsEngine } from '../lib/engines/tfjs/engine';
import { createModel, initialWeights } from '../lib/models';
import { drawReferences, egPenalty, type EgDraws } from '../lib/losses/expected-gradients';
import { DEFAULT_OPTIMIZER, IDENTITY3, OFF_GREY3, type InputGradPenalty, type TrainBatch } from '../lib/engines/types';
import { createRng } from '../lib/util/rng';
import { makeWeights, blobBatch, autodiffStep, assertClose, tensorErrors, type TestBatch } from './engines-fused-helpers';

/**
 * The fused kernel's expected-gradients penalty (MODE_EG: the input-gradient double backprop on x' = r + alpha (x - r),
 * plus the derivative of u = p_y (e_y - p) through the softmax of x') against tfjs autodiff of the tfjs engine's own
 * code (lib/losses/expected-gradients.ts) on the cpu backend; then the two engines step for step with the same draw
 * seed (and apart with another seed), and a chunked batch against one call.
 */

const B = 5;
/** Images 0 and 3 are grey (three equal channels: conv1 takes its channel-summed path), the others coloured. */
const GREY = [0, 3];

const makeBatch = (seed: number, n: number) => blobBatch('fused-eg-batch', seed, n, GREY);

/** Seeded draws with a grey-grey pair (x' grey), a grey-colour pair and an image as its own reference (a = 0). */
function makeDraws(k: number, seed: number): EgDraws {
  const d = drawReferences(B, k, createRng(`fused-eg-draws:${seed}`));
  d.references[0 * k] = 3; // grey image 0 against grey image 3
  d.references[3 * k] = 1; // grey image 3 against a coloured one
  d.references[2 * k] = 2; // image 2 against itself
  return d;
}

/** ceWeight * CE + lambda * egPenalty through tfjs autodiff, as TfjsEngine computes the step (its CE forward pass
 * without the differentiable pooling, the penalty's with it). */
const reference = (flat: Float32Array, batch: TestBatch, penalty: InputGradPenalty, draws: EgDraws, lambda: number, ceWeight: number) =>
  autodiffStep(flat, batch, B, lambda, ceWeight, ({ model, x, y, masks }) => egPenalty(model, x, y, penalty, draws, penalty.spatial ? masks : undefined));

// lambdas that make lambda * R of the order of CE for these weights and images (R ~ 1e-8 .. 1e-7: attributions are
// products of a small probability gradient and x - r), so the penalty's gradient is tested, not drowned by CE's
const CASES: Array<{ name: string; penalty: InputGradPenalty; lambda: number; ceWeight: number }> = [
  { name: 'spatial mask (S = I)', penalty: { spatial: IDENTITY3, global: null }, lambda: 3e7, ceWeight: 1 },
  { name: 'colour (C off the grey axis)', penalty: { spatial: null, global: OFF_GREY3 }, lambda: 1e7, ceWeight: 1 },
  { name: 'penalty only (attention phase), mask + colour', penalty: { spatial: IDENTITY3, global: OFF_GREY3 }, lambda: 1, ceWeight: 0 },
];

for (const k of [1, 3]) {
  test(`fused EG, ${k} reference(s) per image: loss, penalty and every gradient match tfjs autodiff (grey and colour images)`, async () => {
    await tf.setBackend('cpu');
    const eng = FusedLeNetGap.createSync();
    const batch = makeBatch(k, B);
    for (const [seed, c] of CASES.entries()) {
      const w = makeWeights('fused-eg', 10 * k + seed);
      const draws = makeDraws(k, seed);
      eng.setParams(w);
      eng.setPenalty(c.penalty);
      const ref = reference(w, batch, c.penalty, draws, c.lambda, c.ceWeight);
      assert.ok(ref.penalty > 0, `${c.name}: the reference penalty is positive`);
      if (c.ceWeight) assert.ok(c.lambda * ref.penalty > 0.05 * ref.ce, `${c.name}: the penalty weighs in (${c.lambda * ref.penalty} vs ce ${ref.ce})`);
      const got = eng.computeEgGradients(B, batch.images, batch.labels, draws, { lambda: c.lambda, ceWeight: c.ceWeight, masks: batch.masks });
      assert.ok(Math.abs(got.ce - ref.ce) < 1e-5 * Math.max(1, ref.ce), `${c.name}: ce ${got.ce} vs ${ref.ce}`);
      assert.ok(Math.abs(got.kl - ref.penalty) < 1e-4 * ref.penalty, `${c.name}: penalty ${got.kl} vs ${ref.penalty}`);
      assert.ok(Math.abs(got.loss - ref.loss) < 1e-4 * Math.max(1, Math.abs(ref.loss)), `${c.name}: loss ${got.loss} vs ${ref.loss}`);
      assertClose(eng.getGradients(), ref.grads, 5e-4, `k ${k}, ${c.name}`);
      assert.deepEqual(eng.getParams(), w, 'computing gradients does not change the weights');
    }
  });
}

/** A DecoyMNIST-like batch for the engines: blobs, two grey images, per-pixel weights, a draw key. */
function trainBatch(seed: number, n: number, drawKey?: string): TrainBatch {
  const b = makeBatch(100 + seed, n);
  return { size: n, images: b.images, labels: b.labels, rrrMask: b.masks, ...(drawKey ? { drawKey } : {}) };
}

/** Each parameter tensor's change in one step, flat in PARAM_ORDER. */
function stepDelta(before: Record<string, { data: Float32Array }>, after: Record<string, { data: Float32Array }>): Float32Array {
  const out = new Float32Array(PARAM_COUNT);
  let o = 0;
  for (const p of PARAM_ORDER) {
    const a = before[p.name].data, b = after[p.name].data;
    for (let i = 0; i < a.length; i++) out[o + i] = a[i] - b[i];
    o += a.length;
  }
  return out;
}

test('FusedEngine method eg follows TfjsEngine with the same draw seed (keyed and unkeyed batches), and not with another seed', async () => {
  await tf.setBackend('cpu');
  const w = initialWeights('lenet-gap', 4);
  // plain SGD: a step's weight change is lr times its gradient
  const optimizer = { ...DEFAULT_OPTIMIZER, momentum: 0, weightDecay: 0 };
  const penalty: InputGradPenalty = { spatial: IDENTITY3, global: null };
  const make = (seed: number) => new FusedEngine({ method: 'eg', penalty, egReferences: 2, drawSeed: seed, optimizer, initialWeights: w });
  const tfjs = new TfjsEngine({ model: createModel('lenet-gap', 4, w), method: 'eg', penalty, egReferences: 2, drawSeed: 11, optimizer });
  const fused = make(11), other = make(12);
  // the initial weights' attributions are small (R ~ 1e-7): a lambda that makes the penalty matter
  const o = { phase: 'combined' as const, lambda: 3e6, lr: 0.05 };
  // the trainer's batches carry a draw key; others draw by the optimizer step count
  for (const [i, b] of [trainBatch(1, B, '0:0'), trainBatch(2, B)].entries()) {
    const w0 = tfjs.getState().weights;
    const lt = tfjs.trainStep(b, o), lf = fused.trainStep(b, o), lo = other.trainStep(b, o);
    assert.ok(lt.att > 0 && lt.att * o.lambda > 0.05 * lt.ce, `step ${i}: the penalty weighs in (${lt.att * o.lambda} vs ce ${lt.ce})`);
    for (const key of ['loss', 'ce', 'att'] as const) {
      assert.ok(Math.abs(lf[key] - lt[key]) <= 1e-4 * Math.max(1, Math.abs(lt[key])), `step ${i} ${key}: fused ${lf[key]} vs tfjs ${lt[key]}`);
    }
    const dt = stepDelta(w0, tfjs.getState().weights);
    assertClose(stepDelta(w0, fused.getState().weights), dt, 5e-4, `step ${i} update`);
    // other draws: another penalty and other gradients, which the same comparison rejects
    assert.ok(Math.abs(lo.att - lt.att) > 1e-2 * lt.att, `step ${i}: another draw seed gives another penalty (${lo.att} vs ${lt.att})`);
    assert.ok(tensorErrors(stepDelta(w0, other.getState().weights), dt).some((e) => e.error >= 5e-4), `step ${i}: another draw seed fails the update comparison`);
    other.setState(tfjs.getState()); // the next step starts from the same weights again
  }
  tfjs.dispose();
});

test('FusedEngine method eg: a batch split into chunks (references drawn from the whole batch) gives the same step as one call', () => {
  const w = initialWeights('lenet-gap', 8);
  const penalty: InputGradPenalty = { spatial: IDENTITY3, global: OFF_GREY3 };
  const make = () => new FusedEngine({ method: 'eg', penalty, egReferences: 2, drawSeed: 5, optimizer: DEFAULT_OPTIMIZER, initialWeights: w });
  const one = make(), split = make();
  // 7 rows per call: chunks of 2 images, each with up to 4 reference rows from elsewhere in the batch
  (split as unknown as { k: FusedLeNetGap }).k.maxBatch = 7;
  const b = trainBatch(3, B, '1:32');
  const draws = drawReferences(B, 2, createRng('5:eg:1:32'));
  assert.ok([...draws.references].some((r, i) => Math.floor(Math.floor(i / 2) / 2) !== Math.floor(r / 2)), 'some reference lies outside its chunk');
  const o = { phase: 'combined' as const, lambda: 1e3, lr: 1e-2 };
  const la = one.trainStep(b, o), lb = split.trainStep(b, o);
  for (const key of ['loss', 'ce', 'att'] as const) assert.ok(Math.abs(la[key] - lb[key]) < 1e-5 * Math.max(1, Math.abs(la[key])), `${key}: ${lb[key]} vs ${la[key]}`);
  const wa = one.getState().weights, wb = split.getState().weights;
  for (const p of PARAM_ORDER) {
    const d = wa[p.name].data.reduce((m, v, i) => Math.max(m, Math.abs(v - wb[p.name].data[i])), 0);
    assert.ok(d < 1e-6, `${p.name}: chunked weights differ by ${d}`);
  }
});

test("engine registry: method eg runs on the fused engine under 'fused' and 'auto' (the cdep model stays on tfjs)", () => {
  const eg = { ...PAPER_DEFAULTS, method: 'eg' as const, engine: 'auto' };
  assert.equal(fusedUnsupported(eg), undefined);
  const args = { config: eg, optimizer: DEFAULT_OPTIMIZER, initialWeights: initialWeights('lenet-gap', 1), penalty: { spatial: IDENTITY3, global: null } };
  for (const name of ['fused', 'auto']) assert.equal(getEngineFactory(name, eg).create(args).name, 'fused', name);
  assert.match(fusedUnsupported({ ...eg, model: 'cdep' })!, /only the lenet-gap model/);
  assert.throws(() => new FusedEngine({ method: 'eg', optimizer: DEFAULT_OPTIMIZER, initialWeights: args.initialWeights }), /method eg needs an input-gradient penalty/);
});

test("engine registry: more EG references per image than one kernel call holds: 'fused' says why, 'auto' runs tfjs", () => {
  const k = FusedLeNetGap.createSync();
  // the declared limit is the built kernel's: an image and its references in one call's batch rows, within its draws
  assert.equal(FUSED_MAX_EG_REFERENCES, Math.min(k.maxBatch - 1, k.maxEgDraws));
  const at = (egReferences: number) => ({ ...PAPER_DEFAULTS, method: 'eg' as const, engine: 'auto', egReferences });
  const args = (egReferences: number) => ({ config: at(egReferences), optimizer: DEFAULT_OPTIMIZER, initialWeights: initialWeights('lenet-gap', 1), penalty: { spatial: IDENTITY3, global: null } });
  assert.equal(fusedUnsupported(at(FUSED_MAX_EG_REFERENCES)), undefined);
  assert.equal(getEngineFactory('auto', at(FUSED_MAX_EG_REFERENCES)).create(args(FUSED_MAX_EG_REFERENCES)).name, 'fused');
  const over = FUSED_MAX_EG_REFERENCES + 1;
  assert.throws(() => getEngineFactory('fused', at(over)), /engine 'fused' cannot run this configuration: it runs at most 1023 EG references per image, not 1024/);
  assert.equal(getEngineFactory('auto', at(over)).create(args(over)).name, 'tfjs');
});
