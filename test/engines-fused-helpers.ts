import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { PARAM_ORDER, PARAM_COUNT, unflattenParams } from '../lib/engines/fused/kernel';
import { createModel, type Model } from '../lib/models';
import { createRng, type Rng } from '../lib/util/rng';

/** Shared test data of the fused-kernel tests (engines-fused-*.test.ts). */

/** LeNet-GAP weights, flat in PARAM_ORDER, uniform in +-1/sqrt(fan-in), from the seeded stream `label:seed`. */
export function makeWeights(label: string, seed: number): Float32Array {
  const rng = createRng(`${label}:${seed}`);
  const fanIn = [75, 75, 150, 150, 16, 16];
  const out = new Float32Array(PARAM_COUNT);
  let o = 0;
  PARAM_ORDER.forEach((p, i) => {
    const n = p.shape.reduce((a, b) => a * b, 1);
    for (let k = 0; k < n; k++) out[o + k] = (rng.next() * 2 - 1) / Math.sqrt(fanIn[i]);
    o += n;
  });
  return out;
}

/** Draws image i's coloured blob (radius 4 .. 4 + radiusSpread - 1) into 32x32x3 images on a -1 background. */
export function drawBlob(rng: Rng, images: Float32Array, i: number, radiusSpread: number): void {
  const cy = 8 + rng.int(16), cx = 8 + rng.int(16), r = 4 + rng.int(radiusSpread);
  const col = [rng.next(), rng.next(), rng.next()];
  for (let y = 0; y < 32; y++)
    for (let x = 0; x < 32; x++) {
      const d = Math.hypot(y - cy, x - cx);
      if (d < r) for (let c = 0; c < 3; c++) images[i * 3072 + (y * 32 + x) * 3 + c] = -1 + 2 * col[c] * (1 - d / (r + 1)) + 0.1 * rng.next();
    }
}

/** Test images with labels and per-pixel weights (1024 per image), as the penalty tests use them. */
export interface TestBatch { images: Float32Array; labels: Int32Array; masks: Float32Array }

/**
 * Coloured blobs on a -1 background (images `grey` made grey: three equal channels) and per-pixel weights: soft
 * values in a random 12x12 rectangle; from the seeded stream `label:seed`.
 */
export function blobBatch(label: string, seed: number, n: number, grey: number[] = []): TestBatch {
  const rng = createRng(`${label}:${seed}`);
  const images = new Float32Array(n * 3072).fill(-1);
  const labels = new Int32Array(n);
  const masks = new Float32Array(n * 1024);
  for (let i = 0; i < n; i++) {
    labels[i] = rng.int(10);
    drawBlob(rng, images, i, 6);
    if (grey.includes(i)) for (let p = i * 1024; p < (i + 1) * 1024; p++) images[3 * p + 1] = images[3 * p + 2] = images[3 * p];
    const y0 = rng.int(20), x0 = rng.int(20);
    for (let y = y0; y < y0 + 12; y++) for (let x = x0; x < x0 + 12; x++) masks[i * 1024 + y * 32 + x] = rng.next() < 0.8 ? 1 : rng.next();
  }
  return { images, labels, masks };
}

/** What a penalty sees of the first n images of a batch, as tensors. */
export interface PenaltyInputs { model: Model; x: tf.Tensor4D; y: tf.Tensor1D; masks: tf.Tensor3D }

/**
 * The reference step of the fused-kernel tests: ceWeight * CE + lambda * penalty over the first n images through
 * tfjs autodiff of LeNet-GAP with the flat weights; the loss, its pieces and every parameter's gradient, flat in
 * PARAM_ORDER. `secondOrder`: the CE forward pass with the differentiable pooling (as the penalty's own).
 */
export function autodiffStep(flat: Float32Array, batch: TestBatch, n: number, lambda: number, ceWeight: number,
  penalty: (inputs: PenaltyInputs) => tf.Scalar, secondOrder = false): { loss: number; ce: number; penalty: number; grads: Float32Array } {
  return tf.tidy(() => {
    const model = createModel('lenet-gap', 0, unflattenParams(flat));
    const vars = model.params.map((p) => p.variable);
    const x = tf.tensor4d(batch.images.subarray(0, n * 3072), [n, 32, 32, 3]);
    const y = tf.tensor1d(batch.labels.subarray(0, n), 'int32');
    const oh = tf.oneHot(y, 10).asType('float32');
    const masks = tf.tensor3d(batch.masks.subarray(0, n * 1024), [n, 32, 32]);
    let ce!: tf.Scalar, pen!: tf.Scalar;
    const { value, grads } = tf.variableGrads(() => {
      const logits = model.forward(x, secondOrder ? { secondOrder: true } : undefined).logits;
      ce = tf.keep(tf.neg(tf.div(tf.sum(tf.mul(oh, tf.logSoftmax(logits, 1))), n))) as tf.Scalar;
      pen = tf.keep(penalty({ model, x, y, masks }));
      return tf.add(tf.mul(ce, ceWeight), tf.mul(pen, lambda)) as tf.Scalar;
    }, vars);
    const g = new Float32Array(PARAM_COUNT);
    let off = 0;
    for (const v of vars) { g.set(grads[v.name].dataSync(), off); off += v.size; }
    const out = { loss: value.dataSync()[0], ce: ce.dataSync()[0], penalty: pen.dataSync()[0], grads: g };
    model.dispose();
    return out;
  });
}

/** Per parameter array of the kernel's layout: the largest |got - ref| relative to the largest |ref|. */
export function tensorErrors(got: Float32Array, ref: Float32Array): Array<{ name: string; error: number; scale: number }> {
  let off = 0;
  return PARAM_ORDER.map((p) => {
    const n = p.shape.reduce((a, b) => a * b, 1);
    let d = 0, m = 0;
    for (let i = off; i < off + n; i++) { d = Math.max(d, Math.abs(got[i] - ref[i])); m = Math.max(m, Math.abs(ref[i])); }
    off += n;
    return { name: p.name, error: d / Math.max(m, 1e-12), scale: m };
  });
}

/** Per parameter array of the kernel's layout: max |got - ref| relative to max |ref| is under tol. */
export function assertClose(got: Float32Array, ref: Float32Array, tol: number, what: string): void {
  for (const e of tensorErrors(got, ref)) assert.ok(e.error < tol, `${what} ${e.name}: relative error ${e.error.toExponential(2)} >= ${tol} (max |ref| ${e.scale.toExponential(2)})`);
}
