import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadMnist } from '../lib/data';
import { UserError } from '../lib/util/errors';
import { loadCheckpoint, trainVlm, packageRoot, defaultCheckpointDir } from '../lib/maps/embedded';
import { TINY_TRAIN, tinyCheckpoint } from './vlm-helpers';

let dir = '';
before(async () => {
  dir = await tinyCheckpoint('ltl-vlm-ckpt-', { background: ['background'], temperature: 1 });
});

function copy(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'ltl-vlm-ckpt-'));
  for (const f of fs.readdirSync(dir)) fs.copyFileSync(path.join(dir, f), path.join(d, f));
  return d;
}

test('a saved checkpoint loads back with identical weights', async () => {
  const r = await trainVlm(loadMnist().train, TINY_TRAIN);
  const l = loadCheckpoint(dir);
  for (const [name, v] of r.model.params) assert.deepEqual(l.model.params.get(name)!.dataSync(), v.dataSync(), name);
  assert.equal(l.vocab.size, r.vocab.size);
  assert.equal(l.meta.seed, 5);
  r.model.dispose();
  l.model.dispose();
});

test('loading says clearly what is missing or corrupt', () => {
  assert.throws(() => loadCheckpoint(path.join(dir, 'nope')), (e: unknown) => e instanceof UserError && /does not exist/.test(e.message));
  const d1 = copy();
  fs.rmSync(path.join(d1, 'weights.bin'));
  fs.rmSync(path.join(d1, 'vocab.json'));
  assert.throws(() => loadCheckpoint(d1), (e: unknown) => e instanceof UserError && /missing weights\.bin, vocab\.json/.test(e.message));
  const d2 = copy();
  const w = fs.readFileSync(path.join(d2, 'weights.bin'));
  w[10] ^= 0xff;
  fs.writeFileSync(path.join(d2, 'weights.bin'), w);
  assert.throws(() => loadCheckpoint(d2), (e: unknown) => e instanceof UserError && /weights\.bin is corrupt/.test(e.message));
  const d3 = copy();
  fs.writeFileSync(path.join(d3, 'meta.json'), '{ not json');
  assert.throws(() => loadCheckpoint(d3), (e: unknown) => e instanceof UserError && /meta\.json is corrupt: not valid JSON/.test(e.message));
  const d4 = copy();
  fs.appendFileSync(path.join(d4, 'vocab.json'), ' ');
  assert.throws(() => loadCheckpoint(d4), (e: unknown) => e instanceof UserError && /vocab\.json is corrupt/.test(e.message));
});

test('the default checkpoint folder is data/vlm under the package root', () => {
  assert.ok(fs.existsSync(path.join(packageRoot(), 'package.json')));
  assert.equal(defaultCheckpointDir(), path.join(packageRoot(), 'data', 'vlm'));
});
