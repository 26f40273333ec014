import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { FusedLeNetGap, PARAM_ORDER, PARAM_COUNT, flattenParams, unflattenParams } from '../lib/engines/fused/kernel';
import { createRng } from '../lib/util/rng';
import { makeWeights, drawBlob } from './engines-fused-helpers';

/**
 * The fused wasm engine against the same step written with tfjs ops on the cpu backend (the reference):
 * loss values, every parameter's gradient, SGD updates over several steps, and evaluation.
 */

const B = 6;

/** MNIST-like inputs: background -1, a few bright blobs, 3 channels scaled differently (colour). */
function makeBatch(seed: number, n: number) {
  const rng = createRng(`fused-batch:${seed}`);
  const images = new Float32Array(n * 3072).fill(-1);
  const labels = new Int32Array(n);
  const targets = new Float32Array(n * 100);
  for (let i = 0; i < n; i++) {
    labels[i] = rng.int(10);
    drawBlob(rng, images, i, 5);
    let s = 0;
    for (let k = 0; k < 100; k++) {
      const v = rng.next() < 0.3 ? rng.next() : 0;
      targets[i * 100 + k] = v; s += v;
    }
    for (let k = 0; k < 100; k++) targets[i * 100 + k] /= s;
  }
  return { images, labels, targets };
}

interface RefOpts { lambda: number; ceWeight: number; temperature: number }

/** The recipe in tfjs ops (as bench/torch_bench.py): returns mean loss pieces and gradients, flat in PARAM_ORDER. */
function refGradients(flat: Float32Array, batch: ReturnType<typeof makeBatch>, n: number, o: RefOpts) {
  return tf.tidy(() => {
    const named = unflattenParams(flat);
    const vars = PARAM_ORDER.map((p) => tf.variable(tf.tensor(named[p.name].data, [...p.shape])));
    const [w1, b1, w2, b2, wf, bf] = vars;
    const x = tf.tensor4d(batch.images.subarray(0, n * 3072), [n, 32, 32, 3]);
    const y = tf.tensor1d(batch.labels.subarray(0, n), 'int32');
    const q = tf.tensor2d(batch.targets.subarray(0, n * 100), [n, 100]);
    let ce!: tf.Scalar, kl!: tf.Scalar;
    const f = (): tf.Scalar => {
      const h = tf.maxPool(tf.relu(tf.add(tf.conv2d(x, w1 as tf.Tensor4D, 1, 'valid'), b1)), 2, 2, 'valid');
      const a = tf.add(tf.conv2d(h as tf.Tensor4D, w2 as tf.Tensor4D, 1, 'valid'), b2) as tf.Tensor4D;
      const g = tf.mean(tf.maxPool(tf.relu(a), 2, 2, 'valid'), [1, 2]);
      const logits = tf.add(tf.matMul(g as tf.Tensor2D, wf as tf.Tensor2D), bf);
      ce = tf.keep(tf.neg(tf.div(tf.sum(tf.mul(tf.oneHot(y, 10).asType('float32'), tf.logSoftmax(logits, 1))), n))) as tf.Scalar;
      const wy = tf.gather(tf.transpose(wf), y);
      const cam = tf.reshape(tf.relu(tf.sum(tf.mul(a, tf.reshape(wy, [n, 1, 1, 16])), 3)), [n, 100]);
      const mn = tf.min(cam, 1, true), mx = tf.max(cam, 1, true);
      const s = tf.div(tf.div(tf.sub(cam, mn), tf.add(tf.sub(mx, mn), 1e-8)), o.temperature);
      const lp = tf.logSoftmax(s, 1);
      const qlogq = tf.where(tf.greater(q, 0), tf.mul(q, tf.log(tf.maximum(q, 1e-30))), tf.zerosLike(q));
      kl = tf.keep(tf.div(tf.sum(tf.sub(qlogq, tf.mul(q, lp))), n)) as tf.Scalar;
      let loss = tf.mul(ce, o.ceWeight) as tf.Scalar;
      if (o.lambda) loss = tf.add(loss, tf.mul(kl, o.lambda));
      return loss;
    };
    const { value, grads } = tf.variableGrads(f, vars);
    const g = new Float32Array(PARAM_COUNT);
    let off = 0;
    for (const v of vars) {
      g.set(grads[v.name].dataSync(), off);
      off += v.size;
    }
    const out = { loss: value.dataSync()[0], ce: ce.dataSync()[0], kl: kl.dataSync()[0], grads: g };
    vars.forEach((v) => v.dispose());
    return out;
  });
}

/** Largest |a - b| over a tensor, relative to the tensor's largest |b|. */
function relErr(a: Float32Array, b: Float32Array, from: number, to: number): number {
  let d = 0, m = 0;
  for (let i = from; i < to; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return d / Math.max(m, 1e-12);
}

function assertClose(got: Float32Array, ref: Float32Array, tol: number, what: string): void {
  let off = 0;
  for (const p of PARAM_ORDER) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    const e = relErr(got, ref, off, off + n);
    assert.ok(e < tol, `${what} ${p.name}: relative error ${e.toExponential(2)} >= ${tol}`);
    off += n;
  }
}

test('fused engine: loss and gradients match tfjs (cpu) for align, vanilla, attention-only and T != 1', async () => {
  await tf.setBackend('cpu');
  const eng = FusedLeNetGap.createSync();
  const batch = makeBatch(1, B);
  const cases: Array<RefOpts & { name: string }> = [
    { name: 'align', lambda: 160, ceWeight: 1, temperature: 1 },
    { name: 'vanilla', lambda: 0, ceWeight: 1, temperature: 1 },
    { name: 'attention-only', lambda: 1, ceWeight: 0, temperature: 1 },
    { name: 'align T=0.25', lambda: 5, ceWeight: 1, temperature: 0.25 },
  ];
  for (const [seed, c] of cases.entries()) {
    const w = makeWeights('fused-test', seed);
    eng.setParams(w);
    const ref = refGradients(w, batch, B, c);
    const got = eng.computeGradients(B, batch.images, batch.labels, c.lambda ? batch.targets : undefined, c);
    assert.ok(Math.abs(got.ce - ref.ce) < 1e-5 * Math.max(1, ref.ce), `${c.name}: ce ${got.ce} vs ${ref.ce}`);
    if (c.lambda) assert.ok(Math.abs(got.kl - ref.kl) < 1e-4 * Math.max(1e-3, ref.kl), `${c.name}: kl ${got.kl} vs ${ref.kl}`);
    assert.ok(Math.abs(got.loss - ref.loss) < 1e-4 * Math.max(1, Math.abs(ref.loss)), `${c.name}: loss ${got.loss} vs ${ref.loss}`);
    assertClose(eng.getGradients(), ref.grads, 2e-4, c.name);
    // the gradient step must not have changed the weights
    assert.deepEqual(eng.getParams(), w);
  }
});

test('fused engine: SGD with momentum and weight decay follows torch.optim.SGD over steps', async () => {
  await tf.setBackend('cpu');
  const eng = FusedLeNetGap.createSync();
  const opt = { lr: 0.01, momentum: 0.9, weightDecay: 1e-3 };
  let w = makeWeights('fused-test', 7);
  eng.setParams(w);
  const buf = new Float32Array(PARAM_COUNT);
  for (let s = 0; s < 3; s++) {
    const batch = makeBatch(10 + s, B);
    const ref = refGradients(w, batch, B, { lambda: 20, ceWeight: 1, temperature: 1 });
    // as FusedEngine.trainStep (lib/engines/fused/engine.ts) drives the kernel: the gradients, then the update
    eng.computeGradients(B, batch.images, batch.labels, batch.targets, { lambda: 20 });
    eng.applySgd(opt);
    const next = new Float32Array(PARAM_COUNT);
    for (let i = 0; i < PARAM_COUNT; i++) {
      buf[i] = opt.momentum * buf[i] + ref.grads[i] + opt.weightDecay * w[i];
      next[i] = w[i] - opt.lr * buf[i];
    }
    w = next;
  }
  assertClose(eng.getParams(), w, 1e-4, 'params after 3 steps');
  assertClose(eng.getMomentum(), buf, 2e-4, 'momentum after 3 steps');
  eng.resetMomentum();
  assert.ok(eng.getMomentum().every((v) => v === 0));
});

test('fused engine: evaluation logits, accuracy and reverse KL match tfjs', async () => {
  await tf.setBackend('cpu');
  const eng = FusedLeNetGap.createSync();
  const w = makeWeights('fused-test', 3);
  eng.setParams(w);
  const n = 9;
  const batch = makeBatch(5, n);
  const r = eng.evaluate(n, batch.images, batch.labels, batch.targets);
  const ref = tf.tidy(() => {
    const p = unflattenParams(w);
    const t = (k: string) => tf.tensor(p[k].data, p[k].shape);
    const x = tf.tensor4d(batch.images.subarray(0, n * 3072), [n, 32, 32, 3]);
    const h = tf.maxPool(tf.relu(tf.add(tf.conv2d(x, t('conv1.w') as tf.Tensor4D, 1, 'valid'), t('conv1.b'))), 2, 2, 'valid');
    const a = tf.add(tf.conv2d(h as tf.Tensor4D, t('conv2.w') as tf.Tensor4D, 1, 'valid'), t('conv2.b')) as tf.Tensor4D;
    const logits = tf.add(tf.matMul(tf.mean(tf.maxPool(tf.relu(a), 2, 2, 'valid'), [1, 2]) as tf.Tensor2D, t('fc.w') as tf.Tensor2D), t('fc.b'));
    const y = tf.tensor1d(batch.labels.subarray(0, n), 'int32');
    const wy = tf.gather(tf.transpose(t('fc.w')), y);
    const cam = tf.reshape(tf.relu(tf.sum(tf.mul(a, tf.reshape(wy, [n, 1, 1, 16])), 3)), [n, 100]);
    const mn = tf.min(cam, 1, true), mx = tf.max(cam, 1, true);
    const lp = tf.logSoftmax(tf.div(tf.sub(cam, mn), tf.add(tf.sub(mx, mn), 1e-8)), 1);
    const q = tf.tensor2d(batch.targets.subarray(0, n * 100), [n, 100]);
    const kl = tf.sum(tf.mul(tf.exp(lp), tf.sub(lp, tf.log(tf.add(q, 1e-8)))));
    const correct = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), y), 'int32'));
    return { logits: logits.dataSync() as Float32Array, kl: kl.dataSync()[0], correct: correct.dataSync()[0] };
  });
  assert.ok(relErr(r.logits, ref.logits, 0, n * 10) < 1e-5, `logits rel err ${relErr(r.logits, ref.logits, 0, n * 10)}`);
  assert.equal(r.correct, ref.correct);
  assert.ok(Math.abs(r.klSum! - ref.kl) < 1e-4 * Math.abs(ref.kl), `klSum ${r.klSum} vs ${ref.kl}`);
});

test('fused engine: rejects bad batches and parameter arrays', () => {
  const eng = FusedLeNetGap.createSync();
  assert.throws(() => eng.setParams(new Float32Array(10)), /3042/);
  const b = makeBatch(1, 2);
  assert.throws(() => eng.computeGradients(3, b.images, b.labels, undefined), /images/);
  b.labels[0] = 12;
  assert.throws(() => eng.computeGradients(2, b.images, b.labels, undefined), /label 12/);
  const named = unflattenParams(makeWeights('fused-test', 1));
  assert.deepEqual(flattenParams(named), makeWeights('fused-test', 1));
});

test('fused engine: the embedded base64 module is the committed lenet_gap.wasm (rebuild with scripts/build-wasm.sh)', async () => {
  const fs = await import('node:fs');
  const path = await import('node:path');
  const { LENET_GAP_WASM_BASE64 } = await import('../lib/engines/fused/wasm/lenet-gap-wasm');
  const bin = fs.readFileSync(path.join(__dirname, '..', 'lib', 'engines', 'fused', 'wasm', 'lenet_gap.wasm'));
  assert.equal(LENET_GAP_WASM_BASE64, bin.toString('base64'));
});
