import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodePng, loadDataset, mnistDir } from '../lib';

const ltl = path.join(__dirname, '..', 'bin', 'ltl.js');
const run = (...args: string[]) => spawnSync(process.execPath, [ltl, ...args], { encoding: 'utf8', env: { ...process.env, LTL_MNIST_DIR: '' } });

test('ltl data --json reports split sizes and label counts in its last line', () => {
  for (const d of ['colormnist', 'decoymnist']) {
    const r = run('data', '--dataset', d, '--json');
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout.trim().split('\n').pop()!);
    assert.equal(j.dataset, d);
    assert.deepEqual(j.splits, { train: 50400, val: 9600, test: 10000 });
    assert.equal(j.labelCounts.test[1], 1135);
    assert.match(j.checksum, /^[0-9a-f]{64}$/);
  }
});

test('exported PNGs match the rules to the pixel', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ltl-export-'));
  for (const [d, split] of [['colormnist', 'test'], ['decoymnist', 'val']] as const) {
    const out = path.join(dir, d);
    const r = run('data', '--dataset', d, '--export', out, '--split', split, '--limit', '6');
    assert.equal(r.status, 0, r.stderr);
    const s = loadDataset(d)[split];
    const files = fs.readdirSync(out).sort();
    assert.equal(files.length, 6);
    for (let i = 0; i < 6; i++) {
      const f = path.join(out, `${i}_${s.labels[i]}.png`);
      const png = await decodePng(f);
      assert.equal(png.width, 28);
      for (let p = 0; p < 784; p++) {
        for (let c = 0; c < 3; c++) {
          const want = s.images[(i * 784 + p) * s.channels + (s.channels === 3 ? c : 0)];
          assert.equal(png.rgba[4 * p + c], want, `${f} pixel ${p}`);
        }
      }
    }
  }
});

test('a truncated IDX file ends in a one-line error naming the file, exit code 1, no stack trace', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ltl-bad-'));
  for (const f of fs.readdirSync(mnistDir())) fs.copyFileSync(path.join(mnistDir(), f), path.join(dir, f));
  const bad = path.join(dir, 'train-images-idx3-ubyte');
  fs.truncateSync(bad, 1000000);
  const r = run('data', '--dataset', 'colormnist', '--mnist-dir', dir);
  assert.equal(r.status, 1);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /^ltl: error: IDX file .*train-images-idx3-ubyte is truncated/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  const env = spawnSync(process.execPath, [ltl, 'data', '--dataset', 'decoymnist'], { encoding: 'utf8', env: { ...process.env, LTL_MNIST_DIR: '/nonexistent' } });
  assert.equal(env.status, 1);
  assert.match(env.stderr, /no IDX file train-images-idx3-ubyte .* in \/nonexistent/);
});

test('unknown dataset and --help', () => {
  const r = run('data', '--dataset', 'nope');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /unknown dataset 'nope'/);
  const h = run('data', '--help');
  assert.equal(h.status, 0);
  assert.match(h.stdout, /--mnist-dir/);
});
