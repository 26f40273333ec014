import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import {
  threshold, dilate, erode, morphGradient, resizeBilinear, resizeNearest, resizeArea, scaleClamp, normalise, identity, paperChain, compose,
} from '../lib/maps/postprocess';
import type { MapBatch } from '../lib/maps/types';

const map = (h: number, w: number, f: (y: number, x: number) => number): MapBatch => {
  const data = new Float32Array(h * w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data[y * w + x] = f(y, x);
  return { count: 1, height: h, width: w, data };
};
const at = (m: MapBatch, y: number, x: number) => m.data[y * m.width + x];
const sum = (m: MapBatch) => m.data.reduce((a, b) => a + b, 0);

test('threshold is strict', () => {
  const m = threshold(0.5)(map(1, 3, (_, x) => [0.2, 0.5, 0.9][x]));
  assert.deepEqual([...m.data], [0, 0, 1]);
});

test('dilate 7x7 turns one pixel into a 7x7 square, clipped at the border', () => {
  const d = dilate(7)(map(12, 12, (y, x) => (y === 5 && x === 5 ? 1 : 0)));
  assert.equal(sum(d), 49);
  assert.equal(at(d, 2, 2), 1); assert.equal(at(d, 8, 8), 1); assert.equal(at(d, 1, 5), 0); assert.equal(at(d, 9, 5), 0);
  const c = dilate(7)(map(12, 12, (y, x) => (y === 0 && x === 0 ? 1 : 0)));
  assert.equal(sum(c), 16); // 4x4 inside the image
});

test('erode and morphological gradient of a square give its outline band', () => {
  const sq = map(10, 10, (y, x) => (y >= 3 && y <= 6 && x >= 3 && x <= 6 ? 1 : 0)); // 4x4 square
  assert.equal(sum(erode(3)(sq)), 4); // 2x2 core
  const g = morphGradient(3)(sq);
  // dilation 6x6 = 36, erosion 2x2 = 4 -> band of 32 pixels
  assert.equal(sum(g), 32);
  assert.equal(at(g, 4, 4), 0); assert.equal(at(g, 2, 2), 1); assert.equal(at(g, 3, 3), 1);
});

test('resizeNearest follows PyTorch (floor(dst * in / out)) for 32 -> 10', () => {
  const m = resizeNearest(1, 10)(map(1, 32, (_, x) => x));
  assert.deepEqual([...m.data], [0, 3, 6, 9, 12, 16, 19, 22, 25, 28]);
});

test('resizeBilinear: half-pixel centres, edges clamped, constants preserved', () => {
  const m = resizeBilinear(1, 4)(map(1, 2, (_, x) => x)); // src = (o+0.5)*0.5-0.5 = -0.25, 0.25, 0.75, 1.25
  assert.deepEqual([...m.data].map((v) => +v.toFixed(4)), [0, 0.25, 0.75, 1]);
  const c = resizeBilinear(32, 32)(map(28, 28, () => 0.3));
  assert.ok(c.data.every((v) => Math.abs(v - 0.3) < 1e-6));
});

test('resizeArea averages exactly and keeps the mean', () => {
  const m = resizeArea(2, 2)(map(4, 4, (y, x) => y * 4 + x));
  assert.deepEqual([...m.data], [2.5, 4.5, 10.5, 12.5]);
  const r = resizeArea(10, 10)(map(32, 32, (y, x) => (x + y) % 3));
  assert.ok(Math.abs(sum(r) / 100 - (sum(map(32, 32, (y, x) => (x + y) % 3)) / 1024)) < 1e-5);
});

test('scaleClamp, normalise, identity, compose', () => {
  assert.deepEqual([...scaleClamp(8)(map(1, 3, (_, x) => [-0.1, 0.05, 0.5][x])).data].map((v) => +v.toFixed(4)), [0, 0.4, 1]);
  const n = normalise()(map(2, 2, (y, x) => y * 2 + x));
  assert.ok(Math.abs(sum(n) - 1) < 1e-6);
  assert.deepEqual([...normalise()(map(1, 2, () => 0)).data], [0, 0]); // empty map stays empty (docs/method.md section 4)
  const m = map(2, 2, () => 1);
  assert.equal(identity(m), m);
  assert.deepEqual([...compose(scaleClamp(0.5), normalise())(m).data], [0.25, 0.25, 0.25, 0.25].map((v) => v / (1 + 4e-8 / 2)).map((v) => Math.fround(v)));
});

test('paper chain: a 28x28 digit mask becomes an outline-band distribution on 10x10', () => {
  // a filled 10x10 block in the middle of a 28x28 mask
  const m = map(28, 28, (y, x) => (y >= 9 && y < 19 && x >= 9 && x < 19 ? 1 : 0));
  const q = paperChain({ grid: { height: 10, width: 10 } })(m);
  assert.equal(q.height, 10); assert.equal(q.width, 10);
  assert.ok(Math.abs(sum(q) - 1) < 1e-5);
  // the dilated block spans 6..21; its band lies at the rim, the centre is empty, far corners empty
  assert.equal(at(q, 5, 5), 0);
  assert.equal(at(q, 0, 0), 0);
  assert.ok(at(q, 2, 5) > 0, 'band above the block');
  // the band is symmetric under transposition
  for (let y = 0; y < 10; y++) for (let x = 0; x < 10; x++) assert.equal(at(q, y, x), at(q, x, y));
});
