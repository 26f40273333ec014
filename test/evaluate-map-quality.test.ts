import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ImageSplit } from '../lib/data/types';
import type { MapGenerator, MapRequest } from '../lib/maps/types';
import { mapQuality } from '../lib/evaluate/map-quality';
import { dilateMask } from '../lib/maps/morphology';
import { dilate } from '../lib/maps/postprocess';
import { rankPrompts } from '../lib/evaluate/prompt-ranking';
import { UserError } from '../lib/util/errors';
import { tinySplit } from './maps-helpers';

const close = (a: number | null, b: number, msg?: string) => assert.ok(a !== null && Math.abs(a - b) < 1e-6, `${msg ?? ''} ${a} != ${b}`);

/** Two 6x6 images, digit = pixel (2,2), decoy = pixel (5,5). */
function handSplit(): ImageSplit {
  const hw = 36;
  const digitMasks = new Uint8Array(2 * hw), shortcutMasks = new Uint8Array(2 * hw);
  for (let i = 0; i < 2; i++) { digitMasks[i * hw + 2 * 6 + 2] = 1; shortcutMasks[i * hw + 5 * 6 + 5] = 1; }
  return { split: 'val', count: 2, height: 6, width: 6, channels: 1, images: new Uint8Array(2 * hw), labels: new Uint8Array(2), digitMasks, shortcutMasks, sourceIndex: Int32Array.from([0, 1]) };
}

test('dilateMask: square, clipped at the border', () => {
  const m = new Uint8Array(16); m[0] = 1;
  assert.deepEqual([...dilateMask(m, 4, 4, 1)], [1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  const c = new Uint8Array(49); c[24] = 1;
  assert.equal(dilateMask(c, 7, 7, 2).reduce((a, b) => a + b, 0), 25);
  // one square filter serves masks and maps: the 0/1 result equals postprocess's dilate(2r + 1) on the same pixels
  const r = new Uint8Array(49).map((_, i) => (i * 7919) % 11 === 0 ? 1 : 0);
  const asMap = dilate(5)({ count: 1, height: 7, width: 7, data: Float32Array.from(r) });
  assert.deepEqual([...dilateMask(r, 7, 7, 2)], [...asMap.data]);
});

test('mapQuality on hand-made maps gives the values worked out by hand', () => {
  const s = handSplit();
  const data = new Float32Array(72);
  data[2 * 6 + 2] = 1; data[1 * 6 + 1] = 0.5; data[5 * 6 + 5] = 0.5; // image 0; image 1 stays empty
  const maps = { count: 2, height: 6, width: 6, data };
  const q0 = mapQuality(maps, s, { dilate: 0 });
  close(q0.digitMass, (0.5 + 0) / 2, 'digit mass r=0');
  close(q0.decoyMass, (0.25 + 0) / 2, 'decoy mass');
  close(q0.iou, (1 / 3 + 0) / 2, 'iou');
  assert.equal(q0.emptyMaps, 1);
  close(q0.uniformDigitMass, 1 / 36); close(q0.uniformDecoyMass, 1 / 36);
  const q1 = mapQuality(maps, s, { dilate: 1 });
  close(q1.digitMass, 0.75 / 2, 'digit mass r=1 (the 0.5 at (1,1) now counts)');
  close(q1.uniformDigitMass, 9 / 36);
  const qd = mapQuality(maps, s); // default dilation 2: (5,5) is 3 px away, still outside
  assert.equal(qd.dilate, 2);
  close(qd.digitMass, 0.75 / 2);
  close(mapQuality(maps, s, { dilate: 0, threshold: 0.6 }).iou, 0.5, 'iou at 0.6: image 0 exact');
  // indices pick the masks: map 0 evaluated against image 1 (same masks here) and a bad index
  close(mapQuality({ ...maps, count: 1, data: data.subarray(0, 36) }, s, { indices: [1], dilate: 0 }).digitMass, 0.5);
  assert.throws(() => mapQuality({ ...maps, count: 1, data: data.subarray(0, 36) }, s, { indices: [2] }), UserError);
  // checked before any conversion to integers: 0.5 is not read as image 0
  assert.throws(() => mapQuality({ ...maps, count: 1, data: data.subarray(0, 36) }, s, { indices: [0.5] }), /map index 0.5 is outside the val split \(0..1\)/);
  assert.throws(() => mapQuality({ count: 2, height: 5, width: 5, data: new Float32Array(50) }, s), /map of the wrong shape/);
  // no decoy masks -> null
  assert.equal(mapQuality(maps, { ...s, shortcutMasks: undefined }).decoyMass, null);
});

/** A fake prompt-driven generator: the prompt picks which mask the map shows. */
function fakeGenerator(seen: { indices: number[][]; splits: string[] }): MapGenerator {
  return {
    name: 'fake', usesPrompt: true,
    async generate(req: MapRequest) {
      const { split } = req;
      const idx = Array.from(req.indices ?? []);
      seen.indices.push(idx); seen.splits.push(split.split);
      const hw = split.height * split.width;
      const data = new Float32Array(idx.length * hw);
      idx.forEach((i, k) => {
        for (let p = 0; p < hw; p++) {
          const d = split.digitMasks[i * hw + p], c = split.shortcutMasks![i * hw + p];
          data[k * hw + p] = req.prompt === 'a digit' ? d : req.prompt === 'a soft digit' ? 0.4 * d
            : req.prompt === 'a square' ? c : req.prompt === 'anything' ? 1 : 0.5 * d + 0.5 * c;
        }
      });
      return { count: idx.length, height: split.height, width: split.width, data };
    },
  };
}

test('rankPrompts: ranks by digit mass - decoy mass, ties by IoU, on a val sample only', async () => {
  const seen = { indices: [] as number[][], splits: [] as string[] };
  const g = fakeGenerator(seen);
  const val = tinySplit(40, { split: 'val' });
  const res = await rankPrompts(g, val, ['a square', 'anything', 'a soft digit', { prompt: 'a digit', background: ['black'] }, 'digit and square'], { sample: 25, seed: 1 });
  assert.deepEqual(res.map((r) => r.prompt), ['a digit', 'a soft digit', 'digit and square', 'anything', 'a square']);
  assert.deepEqual(res.map((r) => r.rank), [1, 2, 3, 4, 5]);
  close(res[0].score, 1); close(res[1].score, 1); // tie on score, IoU decides (soft map is below 0.5)
  assert.ok(res[0].quality.iou > res[1].quality.iou);
  assert.deepEqual(res[0].background, ['black']);
  assert.ok(res[4].score < 0);
  // every prompt saw the same 25 distinct val indices
  assert.ok(seen.indices.every((ix) => ix.length === 25 && JSON.stringify(ix) === JSON.stringify(seen.indices[0])));
  assert.equal(new Set(seen.indices[0]).size, 25);
  assert.ok(seen.splits.every((s) => s === 'val'));
  for (const split of ['train', 'test'] as const) {
    await assert.rejects(rankPrompts(g, tinySplit(5, { split }), ['a digit']), /validation split only/);
  }
  await assert.rejects(rankPrompts(g, val, []), UserError);
});
