import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ltl = path.join(__dirname, '..', 'bin', 'ltl.js');
const run = (...args: string[]) => spawnSync(process.execPath, [ltl, ...args], { encoding: 'utf8', env: { ...process.env, LTL_MNIST_DIR: '' } });

test('ltl train --json: result with selection, per-epoch records and config; rerun says it is complete', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'ltl-train-cli-'));
  const args = ['train', '--dataset', 'decoymnist', '--method', 'align', '--attention-epoch', '1', '--epochs', '2',
    '--limit', '160', '--eval-limit', '100', '--lr', '0.01', '--out', out, '--json', '--no-progress'];
  const r = run(...args);
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout.trim().split('\n').pop()!);
  for (const k of ['testAccSelected', 'testAccFinal', 'valAccSelected', 'selectedEpoch', 'epochs', 'imagesPerSecond', 'backend', 'config']) assert.ok(k in j, k);
  assert.equal(j.epochs.length, 2);
  for (const k of ['loss', 'ce', 'att', 'valAcc', 'testAcc', 'lambda', 'seconds']) assert.ok(typeof j.epochs[0][k] === 'number', k);
  assert.equal(j.epochs[0].phase, 'ce');
  assert.equal(j.epochs[1].lambda, 160);
  assert.equal(j.config.momentum, 0.98);
  assert.equal(j.trainImages, 160);
  const { sha256: seal, ...onDisk } = JSON.parse(fs.readFileSync(path.join(out, 'result.json'), 'utf8'));
  assert.match(seal, /^[0-9a-f]{64}$/, 'result.json carries its checksum');
  assert.deepEqual(onDisk, j);
  const again = run(...args);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stderr, /already complete/);
  const bad = run('train', '--dataset', 'decoymnist', '--out', out, '--epochs', '3', '--limit', '160');
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /^ltl: error: .*different configuration/m);
  const badNum = run('train', '--dataset', 'decoymnist', '--out', out, '--lambda', 'abc');
  assert.equal(badNum.status, 1);
  assert.match(badNum.stderr, /--lambda must be a number/);
});

test('ltl train without --out: the run is kept in memory, its result printed, nothing written', () => {
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'ltl-train-noout-'));
  const r = spawnSync(process.execPath, [ltl, 'train', '--dataset', 'decoymnist', '--method', 'vanilla', '--epochs', '1',
    '--limit', '96', '--eval-limit', '64', '--json', '--no-progress'], { encoding: 'utf8', cwd, env: { ...process.env, LTL_MNIST_DIR: '' } });
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.equal(j.epochs.length, 1);
  assert.equal(j.trainImages, 96);
  assert.deepEqual(fs.readdirSync(cwd), [], 'no run folder, no file');
});
