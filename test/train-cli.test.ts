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

test('ltl train usage errors: the parser line and one hint naming the command, not the whole help', () => {
  const r = run('train', '--limit', '200');
  assert.equal(r.status, 1);
  assert.deepEqual(r.stderr.trim().split('\n'), [
    "error: required option '--dataset <name>' not specified",
    '(run "ltl train --help" for its options)',
  ]);
  const sub = run('vlm', 'nosuch');
  assert.deepEqual(sub.stderr.trim().split('\n'), ["error: unknown command 'nosuch'", '(run "ltl vlm --help" for its commands)']);
});

test('ltl train refuses what cannot work in one line: --momentum >= 1, an unknown BASE+RULE (listing both), EG steps beyond memory', () => {
  const one = (r: ReturnType<typeof run>) => {
    assert.equal(r.status, 1, r.stderr);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('ltl:'));
    assert.equal(errors.length, 1, r.stderr);
    return errors[0];
  };
  assert.match(one(run('train', '--dataset', 'decoymnist', '--momentum', '2', '--epochs', '1')), /^ltl: error: --momentum must be a number in \[0, 1\), not '2'$/);
  assert.match(one(run('train', '--dataset', 'mnist+bogus', '--epochs', '1')),
    /unknown dataset 'mnist\+bogus' \(known: .*BASE one of mnist, fashion-mnist; RULE one of color, decoy, decoy-frame\)/);
  // 2 x 2^20 references on tfjs (auto's choice above the fused kernel's 1023): refused before any step
  assert.match(one(run('train', '--dataset', 'decoymnist', '--method', 'eg', '--eg-references', String(2 ** 20), '--attention-epoch', '0',
    '--limit', '8', '--batch', '2', '--epochs', '1', '--eval-limit', '50', '--no-progress')), /^ltl: error: .*2097152 interpolated images, more than any memory holds.*use fewer --eg-references or a smaller --batch$/);
  assert.match(one(run('train', '--dataset', 'decoymnist', '--method', 'eg', '--eg-references', '1024', '--engine', 'fused', '--epochs', '1')),
    /^ltl: error: engine 'fused' cannot run this configuration: it runs at most 1023 EG references per image, not 1024$/);
});

test('ltl train --batch above the training images: one batch of them all, said in one line (1e9 used to crash allocating it)', () => {
  const r = run('train', '--dataset', 'decoymnist', '--method', 'vanilla', '--limit', '200', '--batch', '1e9', '--epochs', '1', '--eval-limit', '50', '--json', '--no-progress');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /^ltl train: --batch 1000000000 is more than the 200 training images: each step takes all 200$/m);
  const j = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.equal(j.config.batch, 1e9, 'the config keeps the value given');
  assert.equal(j.trainImages, 200);
});

test('ltl train: a prompt warning of the map generators is one "ltl train: warning:" line, no Node warning', () => {
  const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'ltl-train-warn-'));
  const r = spawnSync(process.execPath, [ltl, 'train', '--dataset', 'decoymnist', '--method', 'align', '--prompt', 'a qqzz digit',
    '--limit', '64', '--eval-limit', '32', '--epochs', '1', '--no-progress'],
  { encoding: 'utf8', env: { ...process.env, LTL_MNIST_DIR: '', LTL_PROMPT_CACHE_DIR: cache } });
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /LtlPromptWarning|trace-warnings/);
  const lines = r.stderr.split('\n').filter((l) => l.includes('qqzz'));
  assert.deepEqual(lines, ['ltl train: warning: prompt "a qqzz digit": the embedded VLM does not know "qqzz" (read as <unk>)']);
});
