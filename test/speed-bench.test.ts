import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

/** `npm run bench` smoke test: a tiny run prints the table and, with --json, the fields as the last line. */
test('bench: tiny run prints a table and the JSON fields; --torch without PyTorch is skipped cleanly', () => {
  const root = path.resolve(__dirname, '..');
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/bench.ts', '--images', '64', '--warmup', '32', '--eval-images', '64',
    '--maps', '2', '--torch', '--python', '/nonexistent/python3', '--json'], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.match(r.stdout, /train align/);
  assert.match(r.stdout, /torch: skipped/);
  const j = JSON.parse(lines[lines.length - 1]);
  for (const k of ['trainAlignImagesPerSecond', 'trainVanillaImagesPerSecond', 'evalImagesPerSecond']) {
    assert.ok(typeof j[k] === 'number' && j[k] > 0, `${k} = ${j[k]}`);
  }
  assert.ok('mapsPerSecond' in j && (j.mapsPerSecond === null ? typeof j.mapsReason === 'string' : j.mapsPerSecond > 0));
  assert.equal(j.backend, 'fused-wasm-simd');
  assert.equal(j.threads, 1);
  assert.equal(j.torch, null);
  assert.match(j.torchReason, /cannot import torch|ENOENT/);
});

test('bench: rejects a bad flag value with a clear message', () => {
  const root = path.resolve(__dirname, '..');
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/bench.ts', '--images', 'lots'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /--images must be an integer/);
});
