import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../lib/backend';
import { loadDataset } from '../lib/data';
import { defaultCheckpointDir, loadCheckpoint } from '../lib/vlm/embedded';
import { GATES, evaluateVlm } from '../lib/evaluate/vlm-gates';

/**
 * The committed checkpoint (data/vlm) against the gates on the first 300 DecoyMNIST test images
 * (MNIST test digits the model never saw). Measured when it was trained, on all 10,000 test images:
 * zero-shot 98.3 %, "a digit" 100.0 % on the digit / 0.0 % on the patch, "a square" 55.7 % on the patch.
 */
test('the committed embedded VLM passes the gates on 300 DecoyMNIST test images', async () => {
  await initBackend();
  const vlm = loadCheckpoint(defaultCheckpointDir());
  const e = evaluateVlm(vlm, loadDataset('decoymnist').test, { limit: 300 });
  vlm.model.dispose();
  const msg = JSON.stringify(e);
  assert.equal(e.images, 300);
  assert.ok(e.zeroShotAccuracy >= GATES.zeroShotAccuracy, msg);
  assert.ok(e.digitPromptDigitMass >= GATES.digitPromptDigitMass, msg);
  assert.ok(e.digitPromptDecoyMass <= GATES.digitPromptDecoyMass, msg);
  assert.ok(e.squarePromptPatchMass >= GATES.squarePromptPatchMass, msg);
  // Far above what a map without spatial information gets.
  assert.ok(e.digitPromptDigitMass > e.uniformDigitMass + 0.3, msg);
  assert.ok(e.squarePromptPatchMass > 10 * e.uniformDecoyMass, msg);
});
