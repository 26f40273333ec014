import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../lib/backend';
import { loadMnist } from '../lib/data';
import { learningRateAt, trainVlm } from '../lib/vlm/embedded';
import { TINY_TRAIN } from './vlm-helpers';

const digits = loadMnist().train;

async function weightsOf(seed: number): Promise<{ w: Float32Array[]; losses: number[] }> {
  const r = await trainVlm(digits, { ...TINY_TRAIN, seed });
  const w = r.model.variables.map((v) => v.dataSync() as Float32Array);
  r.model.dispose();
  return { w, losses: r.history.map((h) => h.loss) };
}

test('a tiny training run is deterministic for a seed, and differs across seeds', async () => {
  await initBackend();
  const a = await weightsOf(5), b = await weightsOf(5), c = await weightsOf(6);
  assert.deepEqual(a.losses, b.losses);
  assert.equal(a.w.length, b.w.length);
  a.w.forEach((t, i) => assert.deepEqual(t, b.w[i]));
  assert.notDeepEqual(a.losses, c.losses);
  for (const l of a.losses) assert.ok(Number.isFinite(l) && l > 0);
});

test('the learning-rate schedule warms up, peaks and decays to 5 %', () => {
  assert.ok(learningRateAt(0, 100, 1) < 0.3);
  assert.equal(learningRateAt(4, 100, 1), 1);
  assert.ok(Math.abs(learningRateAt(100, 100, 1) - 0.05) < 1e-9);
  assert.ok(learningRateAt(50, 100, 1) < 1 && learningRateAt(50, 100, 1) > 0.05);
});
