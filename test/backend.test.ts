import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../lib';

test('the default backend here is wasm (no tfjs-node installed) and is reported', async () => {
  const b = await initBackend();
  assert.equal(b.name, 'wasm');
  assert.equal(tf.getBackend(), 'wasm');
  assert.ok(b.threads >= 1);
  assert.match(b.reason, /default|LTL_BACKEND/);
});

test('LTL_BACKEND overrides the choice; an unknown or missing backend is a clear error', () => {
  const script = (code: string, env: Record<string, string>) => spawnSync(process.execPath, ['--import', 'tsx', '-e', code],
    { encoding: 'utf8', cwd: path.join(__dirname, '..'), env: { ...process.env, ...env } });
  const code = `require('./lib/backend').initBackend().then(b => console.log(JSON.stringify(b)), e => { console.log('ERR ' + e.message); })`;
  const cpu = script(code, { LTL_BACKEND: 'cpu' });
  assert.equal(JSON.parse(cpu.stdout.trim()).name, 'cpu', cpu.stderr);
  assert.match(script(code, { LTL_BACKEND: 'tpu' }).stdout, /ERR unknown backend 'tpu'/);
  assert.match(script(code, { LTL_BACKEND: 'tensorflow' }).stdout, /ERR backend 'tensorflow' was asked for but its package is not installed/);
});

test('the composed Conv2DBackpropFilter matches the cpu backend (strides, padding, odd sizes)', async () => {
  await initBackend('wasm');
  const cases: [number, 'valid' | 'same', number[], number[]][] = [
    [1, 'valid', [4, 12, 13, 3], [5, 5, 3, 6]],
    [2, 'same', [2, 11, 9, 2], [3, 3, 2, 4]],
    [3, 'valid', [3, 14, 14, 3], [5, 5, 3, 2]],
    [1, 'same', [2, 8, 8, 6], [5, 5, 6, 16]],
  ];
  for (const [s, pad, xs, fs] of cases) {
    const x = tf.randomNormal(xs, 0, 1, 'float32', 1) as tf.Tensor4D;
    const w = tf.randomNormal(fs, 0, 1, 'float32', 2) as tf.Tensor4D;
    const outShape = tf.conv2d(x, w, s, pad).shape;
    const dy = tf.randomNormal(outShape, 0, 1, 'float32', 3);
    const grads = () => {
      const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, s, pad).mul(dy).sum())([x, w]);
      return [gx.dataSync(), gw.dataSync()];
    };
    const [wx, ww] = grads();
    await tf.setBackend('cpu');
    const [cx, cw] = grads();
    await tf.setBackend('wasm');
    const maxRel = (a: Float32Array | Int32Array | Uint8Array, b: typeof a) => {
      let m = 0, s2 = 0;
      for (let i = 0; i < a.length; i++) { m = Math.max(m, Math.abs(a[i] - b[i])); s2 = Math.max(s2, Math.abs(b[i])); }
      return m / s2;
    };
    assert.ok(maxRel(ww, cw) < 1e-5, `filter gradient, stride ${s} ${pad}: ${maxRel(ww, cw)}`);
    assert.ok(maxRel(wx, cx) < 1e-5, `input gradient, stride ${s} ${pad}`);
  }
});

test('the filter gradient matches finite differences', async () => {
  await initBackend('wasm');
  const x = tf.randomNormal([2, 7, 7, 2], 0, 1, 'float32', 4) as tf.Tensor4D;
  const w = tf.randomNormal([3, 3, 2, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
  const f = (ww: tf.Tensor4D) => tf.conv2d(x, ww, 1, 'valid').square().sum().mul(0.5);
  const g = tf.grad((ww: tf.Tensor) => f(ww as tf.Tensor4D))(w).dataSync();
  const wv = w.dataSync();
  const eps = 1e-2;
  for (const i of [0, 5, 17, 40, 53]) {
    const plus = Float32Array.from(wv); plus[i] += eps;
    const minus = Float32Array.from(wv); minus[i] -= eps;
    const fd = (f(tf.tensor4d(plus, w.shape)).dataSync()[0] - f(tf.tensor4d(minus, w.shape)).dataSync()[0]) / (2 * eps);
    assert.ok(Math.abs(fd - g[i]) < 1e-2 * Math.max(1, Math.abs(fd)), `element ${i}: fd ${fd} vs ${g[i]}`);
  }
});
