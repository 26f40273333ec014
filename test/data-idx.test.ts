import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { readIdx, loadIdxBaseSet, UserError } from '../lib';

function idx(dims: number[], data: number[] | Uint8Array, type = 0x08): Buffer {
  const h = Buffer.alloc(4 + 4 * dims.length);
  h[2] = type; h[3] = dims.length;
  dims.forEach((d, i) => h.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([h, Buffer.from(data)]);
}
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ltl-idx-'));
const write = (name: string, buf: Buffer) => { const f = path.join(tmp, name); fs.writeFileSync(f, buf); return f; };

test('reads a valid IDX file, plain and gzipped', () => {
  const f = write('ok', idx([2, 2, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]));
  const a = readIdx(f);
  assert.deepEqual(a.dims, [2, 2, 3]);
  assert.deepEqual([...a.data], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  const g = write('ok.gz', gzipSync(idx([3], [7, 8, 9])));
  assert.deepEqual([...readIdx(g).data], [7, 8, 9]);
});

test('a truncated IDX file is an error naming the file and the byte counts', () => {
  const f = write('trunc', idx([10, 28, 28], new Uint8Array(10 * 784 - 100)));
  assert.throws(() => readIdx(f), (e: Error) =>
    e instanceof UserError && e.message.includes(f) && /truncated/.test(e.message) && e.message.includes('7740'));
});

test('bad magic, wrong element type, header truncation, trailing bytes, wrong rank', () => {
  assert.throws(() => readIdx(write('magic', Buffer.from([1, 2, 8, 1, 0, 0, 0, 1, 5]))), /bad magic number/);
  assert.throws(() => readIdx(write('type', idx([1], [1], 0x0d))), /element type 0xd/);
  assert.throws(() => readIdx(write('hdr', idx([5, 5], []).subarray(0, 9))), /truncated inside its header/);
  assert.throws(() => readIdx(write('trail', Buffer.concat([idx([2], [1, 2]), Buffer.from([0])]))), /trailing bytes/);
  assert.throws(() => readIdx(write('rank', idx([2], [1, 2])), { rank: 3 }), /1 dimensions, expected 3/);
  assert.throws(() => readIdx(path.join(tmp, 'missing')), /cannot read IDX file .*missing.*ENOENT/);
  assert.throws(() => readIdx(write('badgz', gzipSync(idx([3], [1, 2, 3])).subarray(0, 15))), /cannot be decompressed/);
});

test('image and label counts must agree', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ltl-base-'));
  for (const p of ['train', 't10k']) {
    fs.writeFileSync(path.join(dir, `${p}-images-idx3-ubyte`), idx([3, 2, 2], new Uint8Array(12)));
    fs.writeFileSync(path.join(dir, `${p}-labels-idx1-ubyte`), idx([p === 'train' ? 2 : 3], p === 'train' ? [0, 1] : [0, 1, 2]));
  }
  assert.throws(() => loadIdxBaseSet('x', dir, ['a', 'b', 'c']), /holds 3 images but .* holds 2 labels/);
});
