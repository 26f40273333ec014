import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../lib/backend';

/** Runs f on the cpu backend and on wasm (with our replacement kernels) and returns both results. */
async function both(f: () => tf.Tensor): Promise<[Float32Array, Float32Array]> {
  await tf.setBackend('cpu');
  const a = tf.tidy(f).dataSync() as Float32Array;
  await initBackend('wasm');
  await tf.setBackend('wasm');
  const b = tf.tidy(f).dataSync() as Float32Array;
  return [a, b];
}

function close(a: Float32Array, b: Float32Array, tol: number, what: string): void {
  assert.equal(a.length, b.length, what);
  let md = 0, mx = 0;
  a.forEach((v, i) => { md = Math.max(md, Math.abs(v - b[i])); mx = Math.max(mx, Math.abs(v)); });
  assert.ok(md <= tol * Math.max(1, mx), `${what}: max diff ${md} (max |x| ${mx})`);
}

test('the composed Conv2DBackpropInput (wasm) matches the cpu backend: strides, padding, odd sizes', async () => {
  await initBackend('wasm');
  assert.ok((tf.getKernel('Conv2DBackpropInput', 'wasm') as any).composedByLtl);
  const cases: [number[], number[], number, 'same' | 'valid'][] = [
    [[2, 14, 14, 8], [3, 3, 8, 6], 1, 'same'], [[2, 28, 28, 5], [3, 3, 5, 7], 2, 'same'], [[2, 27, 27, 3], [3, 3, 3, 4], 2, 'same'],
    [[2, 28, 28, 3], [5, 5, 3, 4], 1, 'valid'], [[2, 28, 28, 3], [5, 5, 3, 4], 2, 'valid'], [[1, 13, 11, 3], [3, 2, 3, 4], 2, 'valid'],
  ];
  for (const [xs, ws, s, p] of cases) {
    const [a, b] = await both(() => {
      const x = tf.randomNormal(xs, 0, 1, 'float32', 1), w = tf.randomNormal(ws, 0, 1, 'float32', 2);
      const dy = tf.randomNormal(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, s, p).shape, 0, 1, 'float32', 3);
      return tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(xx as tf.Tensor4D, w as tf.Tensor4D, s, p), dy)))(x);
    });
    close(a, b, 1e-5, JSON.stringify([xs, ws, s, p]));
  }
});

test('the BatchMatMul wrapper (wasm) gives the same products for every transpose combination', async () => {
  for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
    const [a, b] = await both(() => {
      const x = tf.randomNormal(ta ? [3, 5, 4] : [3, 4, 5], 0, 1, 'float32', 4);
      const y = tf.randomNormal(tb ? [3, 6, 5] : [3, 5, 6], 0, 1, 'float32', 5);
      return tf.concat([tf.matMul(x, y, ta, tb).flatten(), tf.matMul(x.reshape([-1, x.shape[2]!]).slice([0, 0], [4, -1]), tf.ones([x.shape[2]!, 2])).flatten()]);
    });
    close(a, b, 1e-5, `transposeA ${ta} transposeB ${tb}`);
  }
});
