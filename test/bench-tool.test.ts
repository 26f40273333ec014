import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { torchUnavailable } from '../bench/torch';

/** `npm run bench` smoke test: a tiny run prints the table and, with --json, the fields as the last line. The
 * PyTorch side (bench/torch_bench.py, same methods) is exercised by test/bench-torch-parity.test.ts and by a tiny
 * --torch run here when PyTorch is installed. */
test('bench: tiny run prints a table and the JSON fields of every method; --torch without PyTorch is skipped cleanly', () => {
  const root = path.resolve(__dirname, '..');
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/bench.ts', '--images', '64', '--warmup', '32', '--eval-images', '64',
    '--maps', '2', '--tfjs-only-images', '32', '--tfjs-only-warmup', '32', '--torch', '--python', '/nonexistent/python3', '--json'], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.match(r.stdout, /train align/);
  assert.match(r.stdout, /torch: skipped/);
  const j = JSON.parse(lines[lines.length - 1]);
  const fields = ['trainVanillaImagesPerSecond', 'trainAlignImagesPerSecond', 'trainGradcamImagesPerSecond', 'trainInputgradImagesPerSecond',
    'trainRrrImagesPerSecond', 'trainRrrColourImagesPerSecond', 'trainPromptImagesPerSecond', 'trainCdepImagesPerSecond', 'trainCdepFusedImagesPerSecond',
    'trainEgImagesPerSecond', 'trainEgFusedImagesPerSecond', 'trainCounterfactualImagesPerSecond', 'evalImagesPerSecond'];
  for (const k of fields) {
    assert.ok(typeof j[k] === 'number' && j[k] > 0, `${k} = ${j[k]}`);
    assert.ok(typeof j.cpuTime[k] === 'number' && j.cpuTime[k] > 0, `cpuTime.${k} = ${j.cpuTime[k]}`);
  }
  for (const row of ['train vanilla', 'train align, CAM', 'Grad-CAM', 'input-grad', 'RRR spatial', 'RRR colour', 'train prompt', 'train CDEP (decoy mask, tfjs)',
    'train CDEP (decoy mask, fused)', 'train EG, 1 reference (decoy mask, tfjs)', 'train EG, 1 reference (decoy mask, fused)',
    'train vanilla, counterfactual batches', 'counterfactual / vanilla step']) assert.ok(r.stdout.includes(row), row);
  assert.ok(j.counterfactualOverVanilla > 0 && j.counterfactualOverVanillaCpuTime > 0, 'the augmentation\'s cost as a ratio');
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
  const m = spawnSync(process.execPath, ['--import', 'tsx', 'bench/bench.ts', '--methods', 'align,rrx'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  assert.notEqual(m.status, 0);
  assert.match(m.stderr, /--methods takes .*unknown: rrx/);
});

test('bench --torch: PyTorch times every method on the same data and the ratios are printed', { skip: torchUnavailable('/usr/bin/python3') }, () => {
  const root = path.resolve(__dirname, '..');
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/bench.ts', '--images', '64', '--warmup', '32', '--eval-images', '64',
    '--maps', '1', '--tfjs-only-images', '32', '--tfjs-only-warmup', '32', '--torch', '--json'], { cwd: root, encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout.trim().split('\n').pop()!);
  for (const k of ['vanilla', 'align', 'gradcam', 'inputgrad', 'rrr', 'rrrColour', 'prompt', 'eg', 'egFused', 'eval']) {
    assert.ok(j.torch[k].cpu > 0 && j.torch[k].wall > 0, `torch ${k}`);
    assert.ok(j.ratioCpuTime[k] > 0, `ratio ${k}`);
  }
  // CDEP has no PyTorch twin: no torch field, no ratio, and the table says so
  assert.equal(j.torch.cdep, undefined);
  assert.equal(j.ratioCpuTime.cdep, undefined);
  assert.equal(j.torch.cdepFused, undefined);
  assert.equal(j.ratioCpuTime.cdepFused, undefined);
  assert.match(r.stdout, /torch: n\/a for CDEP/);
});
