import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeMapStore, loadMapStore, MapStoreReader, readMapStoreHeader, quantizeMaps, type MapStoreMeta } from '../lib/maps/store';
import { UserError } from '../lib/util/errors';
import { tensor, writeTensorFile } from '../lib/util/tensor-file';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ltl-maps-store-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

const meta: MapStoreMeta = { dataset: 'decoymnist', split: 'val', generator: 'clipseg', prompt: 'a digit', background: ['background', 'black'], datasetChecksum: 'ab'.repeat(32) };

function batch(count: number, h = 5, w = 4) {
  const data = new Float32Array(count * h * w);
  for (let i = 0; i < data.length; i++) data[i] = ((i * 37) % 101) / 100;
  return { count, height: h, width: w, data };
}

function expectUserError(fn: () => unknown, re: RegExp) {
  assert.throws(fn, (e: unknown) => e instanceof UserError && re.test((e as Error).message), `expected UserError matching ${re}`);
}

test('round trip: header, values quantised to k/255, random access equals load-all', () => {
  const file = path.join(tmp, 'rt.safetensors');
  const b = batch(7);
  const h = writeMapStore(file, meta, b);
  assert.equal(fs.statSync(file).size % 1, 0);
  const { header, maps, indices } = loadMapStore(file, { dataset: 'decoymnist', split: 'val', datasetChecksum: meta.datasetChecksum, height: 5, width: 4, covers: 7 });
  assert.equal(header.count, 7); assert.equal(header.dtype, 'uint8'); assert.equal(header.prompt, 'a digit');
  assert.deepEqual(header.background, ['background', 'black']);
  assert.equal(header.payloadSha256, h.payloadSha256);
  assert.deepEqual([...indices], [0, 1, 2, 3, 4, 5, 6]);
  const q = quantizeMaps(b.data);
  for (let i = 0; i < b.data.length; i++) {
    assert.equal(maps.data[i], Math.fround(q[i] / 255));
    assert.ok(Math.abs(maps.data[i] - b.data[i]) <= 0.5 / 255 + 1e-7);
  }
  const r = MapStoreReader.open(file);
  const one = r.read([5, 2]);
  r.close();
  assert.deepEqual([...one.data.subarray(0, 20)], [...maps.data.subarray(5 * 20, 6 * 20)]);
  assert.deepEqual([...one.data.subarray(20, 40)], [...maps.data.subarray(2 * 20, 3 * 20)]);
  assert.equal(readMapStoreHeader(file).count, 7);
  // no temporary files left next to it (atomic write renamed them)
  assert.deepEqual(fs.readdirSync(tmp).filter((f) => f.includes('.tmp-')), []);
});

test('indexed subset: random access by split index', () => {
  const file = path.join(tmp, 'idx.safetensors');
  const b = batch(3);
  writeMapStore(file, meta, b, Int32Array.from([9, 2, 40]));
  const r = MapStoreReader.open(file);
  assert.ok(r.has(40) && r.has(2) && !r.has(0));
  assert.deepEqual([...r.read([40]).data], [...quantizeMaps(b.data.subarray(40, 60))].map((v) => Math.fround(v / 255)));
  expectUserError(() => r.read([1]), /no map for index 1/);
  r.close();
  expectUserError(() => MapStoreReader.open(file, { covers: 3 }), /no map for image 0/);
});

test('corruption and mismatch errors are clear UserErrors', () => {
  const file = path.join(tmp, 'c.safetensors');
  writeMapStore(file, meta, batch(4));
  const good = fs.readFileSync(file);
  const bad = path.join(tmp, 'bad.safetensors');

  expectUserError(() => MapStoreReader.open(path.join(tmp, 'none.safetensors')), /does not exist/);
  fs.writeFileSync(bad, good.subarray(0, good.length - 3));
  expectUserError(() => MapStoreReader.open(bad), /corrupt: its tensors cover \d+ bytes of data, the file holds/);
  fs.writeFileSync(bad, good.subarray(0, 6));
  expectUserError(() => MapStoreReader.open(bad), /truncated/);
  fs.writeFileSync(bad, good.subarray(0, 40));
  expectUserError(() => MapStoreReader.open(bad), /header length \d+ runs past the end/);
  fs.writeFileSync(bad, Buffer.concat([good, Buffer.from([1])]));
  expectUserError(() => MapStoreReader.open(bad), /corrupt: its tensors cover/);
  // A tensor file that is not a map file (a checkpoint, say).
  writeTensorFile(bad, [['w', tensor(Float32Array.from([1]))]], { format: 'ltl-cnn-checkpoint' });
  expectUserError(() => MapStoreReader.open(bad), /is not a map file \(a tensor file of format "ltl-cnn-checkpoint"/);
  writeTensorFile(bad, [['maps', tensor(new Uint8Array(20), [1, 5, 4])]], { format: 'ltl-maps', version: '99', header: '{}' });
  expectUserError(() => MapStoreReader.open(bad), /format version 99/);
  const flipped = Buffer.from(good); flipped[flipped.length - 1] ^= 0xff;
  fs.writeFileSync(bad, flipped);
  expectUserError(() => MapStoreReader.open(bad), /map file .* is corrupt: data checksum mismatch/);
  const n = Number(good.readBigUInt64LE(0));
  const badJson = Buffer.from(good); badJson[8 + n - 1] = 0x7b;
  fs.writeFileSync(bad, badJson);
  expectUserError(() => MapStoreReader.open(bad), /map file .* is corrupt: its header is not valid JSON/);
  const flippedHeader = Buffer.from(good); flippedHeader[good.indexOf('decoymnist')] ^= 0x01;
  fs.writeFileSync(bad, flippedHeader);
  expectUserError(() => MapStoreReader.open(bad), /map file .* is corrupt: header checksum mismatch/);
  // A file of the previous format (magic LTLMAPS) is named as such, with what to do.
  fs.writeFileSync(bad, Buffer.concat([Buffer.from('LTLMAPS\n', 'latin1'), Buffer.alloc(40)]));
  expectUserError(() => MapStoreReader.open(bad), /is in the old format \(LTLMAPS.*make it again with 'ltl maps/);

  expectUserError(() => MapStoreReader.open(file, { datasetChecksum: 'cd'.repeat(32) }), /dataset checksum mismatch/);
  expectUserError(() => MapStoreReader.open(file, { height: 28, width: 28 }), /map of the wrong shape|wrong shape/);
  expectUserError(() => MapStoreReader.open(file, { split: 'train' }), /val split, not the train split/);
  expectUserError(() => MapStoreReader.open(file, { dataset: 'colormnist' }), /dataset 'decoymnist'/);
  expectUserError(() => MapStoreReader.open(file, { covers: 5 }), /no map for image 4/);
  expectUserError(() => MapStoreReader.open(file, { prompt: 'a square' }), /prompt/);
});

test('quantisation clamps and rounds', () => {
  assert.deepEqual([...quantizeMaps(Float32Array.from([-1, 0, 0.5, 1, 2, NaN, 1 / 255]))], [0, 0, 128, 255, 255, 0, 1]);
});
