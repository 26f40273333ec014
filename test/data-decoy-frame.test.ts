import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadDataset, loadMnist, type ImageSplit } from '../lib';
import { FRAME_WIDTH } from '../lib/data/shortcuts/decoy-frame';

const mnist = loadMnist();
const ds = loadDataset('decoymnist-hard');

/** Pixel rule: frame of FRAME_WIDTH px at intensity train 255 - 25 y / test 25 y, the digit untouched elsewhere. */
function check(s: ImageSplit, reversed: boolean) {
  const src = s.split === 'test' ? mnist.test : mnist.train;
  const onFrame = (r: number, c: number) => r < FRAME_WIDTH || c < FRAME_WIDTH || r >= 28 - FRAME_WIDTH || c >= 28 - FRAME_WIDTH;
  let frameCells = 0;
  for (let r = 0; r < 28; r++) for (let c = 0; c < 28; c++) if (onFrame(r, c)) frameCells++;
  assert.equal(frameCells, 28 * 28 - (28 - 2 * FRAME_WIDTH) ** 2);
  for (let i = 0; i < s.count; i += 53) {
    const y = s.labels[i], j = s.sourceIndex[i];
    assert.equal(src.labels[j], y);
    const v = reversed ? 25 * y : 255 - 25 * y;
    for (let r = 0; r < 28; r++) for (let c = 0; c < 28; c++) {
      const p = r * 28 + c;
      const frame = onFrame(r, c);
      assert.equal(s.images[i * 784 + p], frame ? v : src.images[j * 784 + p], `${s.split} image ${i} pixel ${r},${c}`);
      assert.equal(s.shortcutMasks![i * 784 + p], frame ? 1 : 0);
      assert.equal(s.digitMasks[i * 784 + p], src.images[j * 784 + p] > 10 ? 1 : 0);
    }
  }
}

test('decoymnist-hard: grey, frame intensity 255 - 25 y on train and val, reversed (25 y) on test', () => {
  assert.equal(ds.train.channels, 1);
  assert.equal(ds.shortcut, 'decoy-frame');
  check(ds.train, false);
  check(ds.val, false);
  check(ds.test, true);
});

test('decoymnist-hard: same split as decoymnist; the frame carries the label on train and its reverse on test', () => {
  const decoy = loadDataset('decoymnist');
  assert.deepEqual(ds.val.sourceIndex, decoy.val.sourceIndex);
  // reading the top-left pixel recovers the label on train (255 - 25 y) and on test (25 y): the shortcut is exact
  for (let i = 0; i < 500; i++) {
    assert.equal((255 - ds.train.images[i * 784]) / 25, ds.train.labels[i]);
    assert.equal(ds.test.images[i * 784] / 25, ds.test.labels[i]);
  }
});
