import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { loadDataset } from '../lib/data';
import { createGenerator, listGenerators } from '../lib/maps/registry';
import { EmbeddedGenerator, upsampleBilinear } from '../lib/vlm/embedded';
import { tinyCheckpoint } from './vlm-helpers';
import '../lib/vlm/register'; // provides the VLM map sources (embedded, clipseg), as the package's entry points do

let dir = '';
before(async () => {
  dir = await tinyCheckpoint('ltl-vlm-gen-', { background: ['background', 'black'], temperature: 0.5 });
});

test("the 'embedded' generator is registered and makes one [0,1] map per image at image size", async () => {
  assert.ok(listGenerators().includes('embedded'));
  const g = await createGenerator('embedded', { modelDir: dir });
  assert.equal(g.name, 'embedded');
  assert.equal(g.usesPrompt, true);
  const ds = loadDataset('decoymnist');
  let progress = 0;
  const maps = await g.generate({ split: ds.val, indices: [3, 1, 4], prompt: 'a digit', onProgress: (d) => (progress = d) });
  assert.equal(maps.count, 3);
  assert.equal(maps.height, 28);
  assert.equal(maps.width, 28);
  assert.equal(maps.data.length, 3 * 28 * 28);
  assert.equal(progress, 3);
  for (const v of maps.data) assert.ok(v >= 0 && v <= 1 && Number.isFinite(v));
  // Grey (1-channel) and colour (3-channel) splits both work; the same request gives the same maps.
  const again = await g.generate({ split: ds.val, indices: [3, 1, 4], prompt: 'a digit' });
  assert.deepEqual(again.data, maps.data);
  const colour = await g.generate({ split: loadDataset('colormnist').val, indices: [0], prompt: 'a square', background: ['noise'] });
  assert.equal(colour.count, 1);
  await assert.rejects(g.generate({ split: ds.val, indices: [ds.val.count], prompt: 'a digit' }), /map index \d+ is outside the val split/);
  g.dispose?.();
});

test('a missing checkpoint is reported when the generator is used', async () => {
  const g = new EmbeddedGenerator({ checkpoint: path.join(dir, 'absent') });
  await assert.rejects(g.generate({ split: loadDataset('decoymnist').val, indices: [0], prompt: 'a digit' }), /does not exist/);
});

test('bilinear upsampling with half-pixel centres: constant stays constant, a 2x2 grid interpolates', () => {
  const c = upsampleBilinear(new Float32Array(4).fill(0.25), 1, 2, 2, 4, 4);
  for (const v of c) assert.ok(Math.abs(v - 0.25) < 1e-7);
  const g = upsampleBilinear(new Float32Array([0, 1, 0, 1]), 1, 2, 2, 1, 4);
  assert.deepEqual([...g].map((v) => +v.toFixed(3)), [0, 0.25, 0.75, 1]);
});
