import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ImageSplit } from '../lib/data/types';
import type { MapBatch } from '../lib/maps/types';
import { broadGates, plainSplit, vlmMetrics } from '../lib/evaluate/vlm-gates';

/** Two 10x10 images: a 2x2 "digit" in the middle and a 2x2 patch in a corner. */
function handMade(): ImageSplit {
  const hw = 100, n = 2;
  const digitMasks = new Uint8Array(n * hw), shortcutMasks = new Uint8Array(n * hw);
  for (let k = 0; k < n; k++) {
    for (const p of [44, 45, 54, 55]) digitMasks[k * hw + p] = 1;
    for (const p of [0, 1, 10, 11]) shortcutMasks[k * hw + p] = 1;
  }
  return { split: 'test', count: n, height: 10, width: 10, channels: 1, images: new Uint8Array(n * hw), labels: new Uint8Array([3, 7]), digitMasks, shortcutMasks, sourceIndex: new Int32Array(n) };
}

const batch = (data: Float32Array): MapBatch => ({ count: 2, height: 10, width: 10, data });

test('vlmMetrics: mass shares, dilation by 2 px, zero-shot accuracy and gates on a hand-made case', () => {
  const split = handMade();
  const digit = new Float32Array(200), square = new Float32Array(200);
  // Image 0: all mass on the digit. Image 1: 3 units on the digit's 2-px ring, 1 unit on the patch.
  for (const p of [44, 45, 54, 55]) digit[p] = 1;
  digit[100 + 22] = 1; digit[100 + 77] = 2; digit[100 + 0] = 1;
  // "a square": image 0 half on the patch, image 1 none on it.
  square[0] = 1; square[99] = 1; square[100 + 50] = 1;
  const m = vlmMetrics(split, [0, 1], [3, 1], batch(digit), batch(square), 2);
  assert.equal(m.zeroShotAccuracy, 0.5);
  assert.ok(Math.abs(m.digitPromptDigitMass - (1 + 0.75) / 2) < 1e-9);
  assert.ok(Math.abs(m.digitPromptDecoyMass - (0 + 0.25) / 2) < 1e-9);
  assert.ok(Math.abs(m.squarePromptPatchMass - 0.25) < 1e-9);
  assert.ok(Math.abs(m.uniformDigitMass - 0.36) < 1e-9); // 6x6 dilated square of 100 pixels
  assert.deepEqual(m.gates, { zeroShotAccuracy: false, digitPromptDigitMass: true, digitPromptDecoyMass: false, squarePromptPatchMass: false });
  // Without dilation the ring pixels no longer count.
  assert.ok(Math.abs(vlmMetrics(split, [0, 1], [3, 7], batch(digit), batch(square), 0).digitPromptDigitMass - 0.5) < 1e-9);
});

test('vlmMetrics refuses splits without decoy-patch masks', () => {
  const s = { ...handMade(), shortcutMasks: undefined };
  assert.throws(() => vlmMetrics(s, [0, 1], [3, 7], batch(new Float32Array(200)), batch(new Float32Array(200))), /no decoy-patch masks/);
});

test('broad gates: each figure against its threshold; the frame gate takes "a frame" or "the border"', () => {
  const pass = { fashionZeroShotAccuracy: 0.85, hardDigitPromptDigitMass: 0.9, hardDigitPromptFrameMass: 0.05, framePromptFrameMass: 0.6, borderPromptFrameMass: 0.1, garmentPromptObjectMass: 0.9, garmentPromptFrameMass: 0 };
  assert.deepEqual(Object.values(broadGates(pass)), [true, true, true, true, true]);
  const g = broadGates({ ...pass, fashionZeroShotAccuracy: 0.849, hardDigitPromptFrameMass: 0.051, framePromptFrameMass: 0.2, borderPromptFrameMass: 0.61, garmentPromptObjectMass: 0.5 });
  assert.deepEqual(g, { fashionZeroShotAccuracy: false, hardDigitPromptDigitMass: true, hardDigitPromptFrameMass: false, framePromptFrameMass: true, garmentPromptObjectMass: false });
});

test('plainSplit: grey base images as a test split with object masks (grey > 10)', () => {
  const s = plainSplit({ count: 2, height: 2, width: 2, images: new Uint8Array([0, 11, 10, 255, 3, 4, 200, 0]), labels: new Uint8Array([4, 9]) });
  assert.equal(s.split, 'test');
  assert.deepEqual([...s.digitMasks], [0, 1, 0, 1, 0, 0, 1, 0]);
  assert.equal(s.shortcutMasks, undefined);
  assert.deepEqual([...s.sourceIndex], [0, 1]);
});
