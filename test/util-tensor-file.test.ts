import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import {
  DTYPES, encodeTensorFile, readTensorFile, writeTensorFile, tensor, jsonMetadata, TensorFileReader, type Tensor,
} from '../lib/util/tensor-file';
import { UserError } from '../lib/util/errors';
import { tmpDirs } from './tmp-helpers';
import { pythonLoad, pythonSkip } from './python-helpers';
import { readCheckpoint, writeCheckpoint } from '../lib/train/checkpoint';
import { loadMapStore, writeMapStore } from '../lib/maps/store';
import { initialWeights } from '../lib/models';

const tmpDir = tmpDirs('ltl-tensor-file-');

function expectUserError(fn: () => unknown, re: RegExp) {
  assert.throws(fn, (e: unknown) => e instanceof UserError && re.test((e as Error).message), `expected UserError matching ${re}`);
}

/** One tensor of every dtype the module writes, odd sizes so alignment is exercised. */
function everyDtype(): Array<[string, Tensor]> {
  return [
    ['f32', tensor(Float32Array.from([1.5, -2.25, Math.fround(0.1), Infinity, -0]), [5])],
    ['f64', tensor(Float64Array.from([Math.PI, -1e300]), [2, 1])],
    ['u8', tensor(Uint8Array.from([0, 1, 255]), [1, 3])],
    ['i8', tensor(Int8Array.from([-128, 127, 0]))],
    ['i16', tensor(Int16Array.from([-32768, 7]))],
    ['u16', tensor(Uint16Array.from([65535]))],
    ['i32', tensor(Int32Array.from([-2147483648, 2147483647, 3]))],
    ['u32', tensor(Uint32Array.from([4294967295]))],
    ['empty', tensor(new Float32Array(0), [0, 4])],
  ];
}

test('round trip of every dtype: values, shapes, order and metadata come back', () => {
  const file = path.join(tmpDir(), 'all.safetensors');
  const ts = everyDtype();
  writeTensorFile(file, ts, { note: 'hello', provenance: jsonMetadata({ b: 2, a: [1] }) });
  const r = readTensorFile(file);
  assert.deepEqual([...r.tensors.keys()], ts.map(([k]) => k));
  for (const [name, t] of ts) {
    const got = r.tensors.get(name)!;
    assert.equal(got.dtype, t.dtype, name);
    assert.deepEqual(got.shape, t.shape, name);
    assert.ok(got.data instanceof DTYPES[t.dtype], name);
    assert.deepEqual([...got.data], [...t.data], name);
  }
  assert.equal(r.metadata.note, 'hello');
  assert.deepEqual(r.json('provenance'), { a: [1], b: 2 });
  // The positioned reader agrees, and its data check passes.
  const p = TensorFileReader.open(file);
  p.verifyData();
  assert.deepEqual([...p.read('i32').data], [-2147483648, 2147483647, 3]);
  assert.deepEqual([...p.readBytes('u8', 1, 2)], [1, 255]);
  p.close();
  assert.deepEqual(fs.readdirSync(path.dirname(file)).filter((f) => f.includes('.tmp-')), []);
});

test('the layout matches the safetensors spec byte for byte on a tiny case', () => {
  const buf = encodeTensorFile([['a', tensor(Uint8Array.from([1, 2]), [2])]], { k: 'v' });
  const dataSha = createHash('sha256').update(Uint8Array.from([1, 2])).digest('hex');
  // header_sha256: SHA-256 of the header's canonical JSON (sorted keys) without that key.
  const canonical = `{"__metadata__":{"data_sha256":"${dataSha}","k":"v"},"a":{"data_offsets":[0,2],"dtype":"U8","shape":[2]}}`;
  const headerSha = createHash('sha256').update(canonical).digest('hex');
  const json = `{"__metadata__":{"k":"v","data_sha256":"${dataSha}","header_sha256":"${headerSha}"},"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}`;
  const n = Math.ceil(json.length / 8) * 8;
  const expected = Buffer.concat([
    Buffer.from([n & 255, n >> 8, 0, 0, 0, 0, 0, 0]), // u64 little-endian header size
    Buffer.from(json + ' '.repeat(n - json.length)), // JSON, space-padded to a multiple of 8
    Buffer.from([1, 2]), // the byte buffer
  ]);
  assert.equal(buf.toString('hex'), expected.toString('hex'));
  assert.equal((8 + n) % 8, 0);
});

test('a flipped byte anywhere is one clear error naming the file', () => {
  const dir = tmpDir();
  const good = encodeTensorFile([['w', tensor(Float32Array.from([1, 2, 3, 4]), [2, 2])], ['b', tensor(Int32Array.from([7]))]], { m: 'x' });
  const n = Number(good.readBigUInt64LE(0));
  const json = good.toString('utf8', 8, 8 + n);
  // Positions: the size prefix, a metadata value, a dtype, a shape digit, the data.
  const spots = [0, 8 + json.indexOf('"x"') + 1, 8 + json.indexOf('F32') + 1, 8 + json.indexOf('[2,2]') + 1, 8 + n + 5];
  for (const at of spots) {
    const bad = Buffer.from(good);
    bad[at] ^= at === 0 ? 0x40 : 0x01;
    const file = path.join(dir, `flip-${at}.safetensors`);
    fs.writeFileSync(file, bad);
    expectUserError(() => readTensorFile(file, { what: 'checkpoint', hint: 'delete it' }), new RegExp(`^checkpoint ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is corrupt: .*; delete it$`));
  }
  const cut = path.join(dir, 'cut.safetensors');
  fs.writeFileSync(cut, good.subarray(0, good.length - 1));
  expectUserError(() => readTensorFile(cut), /is corrupt: its tensors cover 20 bytes of data, the file holds 19/);
  const tiny = path.join(dir, 'tiny.safetensors');
  fs.writeFileSync(tiny, Buffer.from([1, 2, 3]));
  expectUserError(() => readTensorFile(tiny), /is corrupt: truncated \(3 bytes/);
  // A file without our checksums (another writer) is refused: it cannot be verified.
  const plain = path.join(dir, 'plain.safetensors');
  const h = '{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}';
  const pre = Buffer.alloc(8);
  pre.writeBigUInt64LE(BigInt(h.length));
  fs.writeFileSync(plain, Buffer.concat([pre, Buffer.from(h), Buffer.from([9])]));
  expectUserError(() => readTensorFile(plain), /no 'header_sha256' checksum/);
});

test('safetensors (Python) reads every dtype back with the same values', { skip: pythonSkip }, () => {
  const file = path.join(tmpDir(), 'py.safetensors');
  const ts = everyDtype().filter(([k]) => k !== 'empty');
  writeTensorFile(file, ts, { note: 'hello' });
  const py = pythonLoad(file);
  const NP: Record<string, string> = { F32: 'float32', F64: 'float64', U8: 'uint8', I8: 'int8', I16: 'int16', U16: 'uint16', I32: 'int32', U32: 'uint32' };
  for (const [name, t] of ts) {
    const got = py.tensors[name];
    assert.equal(got.dtype, NP[t.dtype], name);
    assert.deepEqual(got.shape, t.shape, name);
    assert.deepEqual(got.values.map((v) => (typeof v === 'string' ? Number(v.replace('inf', 'Infinity')) : v)), [...t.data].map(Number), name);
  }
  assert.equal(py.metadata.note, 'hello');
});

test('safetensors (Python) loads a CNN checkpoint and a map file with the values ltl reads', { skip: pythonSkip }, () => {
  const dir = tmpDir();
  // A checkpoint as the trainer writes it: LeNet-GAP's initial weights and an optimizer slot.
  const weights = initialWeights('lenet-gap', 3);
  const ck = path.join(dir, 'checkpoint.safetensors');
  writeCheckpoint(ck, { epoch: 0, rng: { seed: 3, nextEpoch: 1 }, history: [], trainSeconds: 0, imagesTrained: 0 },
    { weights, slots: { 'adam.m/conv1.b': { shape: [6], data: Float32Array.from([1, 2, 3, 4, 5, 6]) } }, step: 1 });
  const py = pythonLoad(ck);
  const ours = readCheckpoint(ck).state;
  assert.deepEqual(Object.keys(py.tensors).sort(), [...Object.keys(weights).map((k) => `weights/${k}`), 'slots/adam.m/conv1.b'].sort());
  for (const [k, w] of Object.entries(ours.weights)) {
    assert.equal(py.tensors[`weights/${k}`].dtype, 'float32');
    assert.deepEqual(py.tensors[`weights/${k}`].shape, w.shape, k);
    assert.deepEqual(py.tensors[`weights/${k}`].values, [...w.data], k);
  }
  assert.equal(JSON.parse(py.metadata.checkpoint).step, 1);
  // A map file with an index table: maps as uint8 [count, height, width], the split indices as int32.
  const mf = path.join(dir, 'maps.safetensors');
  const maps = { count: 3, height: 4, width: 5, data: Float32Array.from({ length: 60 }, (_, i) => (i % 11) / 10) };
  writeMapStore(mf, { dataset: 'decoymnist', split: 'val', generator: 'oracle', prompt: '', background: [], datasetChecksum: 'ab'.repeat(32) }, maps, Int32Array.from([7, 2, 9]));
  const pm = pythonLoad(mf);
  const lm = loadMapStore(mf);
  assert.deepEqual(pm.tensors.maps.shape, [3, 4, 5]);
  assert.equal(pm.tensors.maps.dtype, 'uint8');
  assert.deepEqual(pm.tensors.maps.values.map((v) => Math.fround(v / 255)), [...lm.maps.data]);
  assert.deepEqual(pm.tensors.indices.values, [7, 2, 9]);
  assert.equal(JSON.parse(pm.metadata.header).dataset, 'decoymnist');
});
