import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadDataset, loadMnist, COLOR_PALETTE, DECOY_SIZE, trainValIndices, type ImageSplit } from '../lib';

// Known MNIST label counts (the standard 60k/10k files).
const MNIST_TRAIN = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949];
const MNIST_TEST = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009];

const mnist = loadMnist();
const color = loadDataset('colormnist');
const decoy = loadDataset('decoymnist');

function counts(labels: Uint8Array): number[] {
  const c = new Array(10).fill(0);
  for (const l of labels) c[l]++;
  return c;
}

test('split sizes and label counts match MNIST', () => {
  for (const ds of [color, decoy]) {
    assert.equal(ds.train.count, 50400);
    assert.equal(ds.val.count, 9600);
    assert.equal(ds.test.count, 10000);
    assert.deepEqual(counts(ds.test.labels), MNIST_TEST);
    const tv = counts(ds.train.labels).map((c, i) => c + counts(ds.val.labels)[i]);
    assert.deepEqual(tv, MNIST_TRAIN);
  }
});

test('train and val partition the base training set; the split is seeded', () => {
  const seen = new Uint8Array(60000);
  for (const i of color.train.sourceIndex) seen[i]++;
  for (const i of color.val.sourceIndex) seen[i]++;
  assert.ok(seen.every((v) => v === 1));
  const a = trainValIndices(60000, 9600, 37), b = trainValIndices(60000, 9600, 37), c = trainValIndices(60000, 9600, 38);
  assert.deepEqual(a.val, b.val);
  assert.notDeepEqual(a.val, c.val);
  assert.deepEqual(decoy.val.sourceIndex, color.val.sourceIndex, 'both datasets use the same split for the same seed');
});

function checkColor(s: ImageSplit, reversed: boolean) {
  const src = s.split === 'test' ? mnist.test : mnist.train;
  for (let i = 0; i < s.count; i += 37) {
    const y = s.labels[i];
    const rgb = COLOR_PALETTE[reversed ? 9 - y : y];
    const j = s.sourceIndex[i];
    assert.equal(src.labels[j], y);
    for (let p = 0; p < 784; p++) {
      const g = src.images[j * 784 + p];
      for (let c = 0; c < 3; c++) {
        const want = Math.trunc(Math.min(255, Math.max(0, Math.fround(g * rgb[c])))); // CDEP: float64 product stored as float32
        assert.equal(s.images[(i * 784 + p) * 3 + c], want, `image ${i} pixel ${p} channel ${c}`);
      }
      assert.equal(s.digitMasks[i * 784 + p], g > 10 ? 1 : 0);
    }
  }
}

test('ColorMNIST palette rule pixel by pixel: train k = y, val k = y, test k = 9 - y', () => {
  assert.equal(color.train.channels, 3);
  checkColor(color.train, false);
  checkColor(color.val, false);
  checkColor(color.test, true);
});

function checkDecoy(s: ImageSplit, reversed: boolean) {
  const src = s.split === 'test' ? mnist.test : mnist.train;
  const corners = new Map<string, number>();
  for (let i = 0; i < s.count; i++) {
    const y = s.labels[i], j = s.sourceIndex[i];
    const mask = s.shortcutMasks!.subarray(i * 784, (i + 1) * 784);
    let r0 = -1, c0 = -1, n = 0;
    for (let p = 0; p < 784; p++) if (mask[p]) { n++; if (r0 < 0) { r0 = Math.floor(p / 28); c0 = p % 28; } }
    assert.equal(n, DECOY_SIZE * DECOY_SIZE);
    assert.ok((r0 === 0 || r0 === 23) && (c0 === 0 || c0 === 23), `patch at ${r0},${c0}`);
    corners.set(`${r0},${c0}`, (corners.get(`${r0},${c0}`) ?? 0) + 1);
    if (i % 29 !== 0) continue;
    const v = reversed ? 25 * y : 255 - 25 * y;
    for (let p = 0; p < 784; p++) {
      const want = mask[p] ? v : src.images[j * 784 + p];
      assert.equal(s.images[i * 784 + p], want, `image ${i} pixel ${p}`);
    }
  }
  // Offsets are drawn independently and uniformly: each corner holds about a quarter.
  assert.equal(corners.size, 4);
  for (const c of corners.values()) assert.ok(Math.abs(c / s.count - 0.25) < 0.03);
}

test('DecoyMNIST rule pixel by pixel: 5x5 corner patch, train 255-25y, test 25y', () => {
  assert.equal(decoy.train.channels, 1);
  checkDecoy(decoy.train, false);
  checkDecoy(decoy.val, false);
  checkDecoy(decoy.test, true);
});

test('the same data seed gives the same dataset; another seed moves patches', () => {
  const again = loadDataset('decoymnist');
  assert.equal(again.checksum, decoy.checksum);
  const other = loadDataset('decoymnist', { seed: 5 });
  assert.notEqual(other.checksum, decoy.checksum);
});
