import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SYNONYM_CONCEPTS, SYNONYM_LISTS_MEASURED, heldOutEntries } from '../lib/evaluate/vlm-synonyms';

const root = path.join(__dirname, '..');
function ltl(args: string[]) {
  const code = `require('./lib/cli/main').main(['node', 'ltl', ...${JSON.stringify(args)}])`;
  return spawnSync(process.execPath, ['--import', 'tsx', '-e', code], { cwd: root, encoding: 'utf8', env: { ...process.env, LTL_BACKEND: 'wasm' } });
}

test('ltl vlm train writes a checkpoint that ltl vlm eval reads (tiny run)', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'ltl-vlm-cli-'));
  const t = ltl(['vlm', 'train', '--seed', '3', '--out', out, '--steps', '2', '--batch', '4', '--select-limit', '0', '--json']);
  assert.equal(t.status, 0, t.stderr);
  const tr = JSON.parse(t.stdout.trim().split('\n').pop()!);
  assert.equal(tr.steps, 2);
  for (const f of ['model.json', 'weights.safetensors', 'vocab.json', 'meta.json']) assert.ok(fs.existsSync(path.join(out, f)), f);
  const e = ltl(['vlm', 'eval', '--checkpoint', out, '--limit', '20', '--split', 'val', '--prompts', 'a number', '--no-broad', '--json']);
  assert.equal(e.status, 0, e.stderr);
  const ev = JSON.parse(e.stdout.trim().split('\n').pop()!);
  assert.equal(ev.images, 20);
  for (const k of ['zeroShotAccuracy', 'digitPromptDigitMass', 'digitPromptDecoyMass', 'squarePromptPatchMass']) {
    assert.ok(ev[k] >= 0 && ev[k] <= 1, `${k} = ${ev[k]}`);
  }
  assert.equal(ev.prompts[0].prompt, 'a number');
  // Without the broad sets, the synonym report has the DecoyMNIST concepts only.
  assert.deepEqual(ev.synonyms.concepts.map((c: { concept: string }) => c.concept), ['digit', 'square']);
  assert.equal(ev.synonyms.images, 20);
});

test('ltl vlm train --corpus broad trains on MNIST and Fashion-MNIST scenes; ltl vlm eval reports the broad gates and how prompts were read', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'ltl-vlm-cli-'));
  const t = ltl(['vlm', 'train', '--seed', '3', '--corpus', 'broad', '--out', out, '--steps', '2', '--batch', '4', '--select-limit', '0', '--json']);
  assert.equal(t.status, 0, t.stderr);
  const vocab: string[] = JSON.parse(fs.readFileSync(path.join(out, 'vocab.json'), 'utf8'));
  for (const w of ['clothing', 'garment', 'sneaker', 'shoe', 'frame', 'border', 'digit']) assert.ok(vocab.includes(w), w);
  const e = ltl(['vlm', 'eval', '--checkpoint', out, '--limit', '10', '--split', 'val', '--prompts', 'footwear,a figure', '--json']);
  assert.equal(e.status, 0, e.stderr);
  const ev = JSON.parse(e.stdout.trim().split('\n').pop()!);
  for (const k of ['fashionZeroShotAccuracy', 'framePromptFrameMass', 'garmentPromptObjectMass']) assert.ok(ev[k] >= 0 && ev[k] <= 1, `${k} = ${ev[k]}`);
  assert.deepEqual(Object.keys(ev.broad.gates).sort(), ['fashionZeroShotAccuracy', 'framePromptFrameMass', 'garmentPromptObjectMass', 'hardDigitPromptDigitMass', 'hardDigitPromptFrameMass']);
  // The synonym report: every synonym of the four concepts on the lists measured by default, on the first 10 images of each set.
  assert.deepEqual(ev.synonyms.concepts.map((c: { concept: string }) => c.concept), ['digit', 'clothing', 'frame', 'square']);
  assert.equal(ev.synonyms.measured, SYNONYM_CONCEPTS.flatMap((c) => heldOutEntries(c, SYNONYM_LISTS_MEASURED)).length);
  assert.deepEqual(ev.synonyms.lists.map((l: { list: number }) => l.list), [1, 2]);
  for (const c of ev.synonyms.concepts) {
    assert.equal(c.images, 10);
    for (const s of c.synonyms) assert.ok(s.mass >= 0 && s.mass <= 1 && typeof s.within === 'boolean' && Math.abs(c.mass - s.mass - s.gap) < 1e-12, JSON.stringify(s));
  }
  const skip = ltl(['vlm', 'eval', '--checkpoint', out, '--limit', '3', '--split', 'val', '--no-broad', '--no-synonyms', '--json']);
  assert.equal(skip.status, 0, skip.stderr);
  assert.equal(JSON.parse(skip.stdout.trim().split('\n').pop()!).synonyms, undefined);
  // One list asked for; a list that does not exist is one line.
  const one = ltl(['vlm', 'eval', '--checkpoint', out, '--limit', '2', '--split', 'val', '--no-broad', '--synonym-lists', '3', '--json']);
  assert.equal(one.status, 0, one.stderr);
  assert.deepEqual(JSON.parse(one.stdout.trim().split('\n').pop()!).synonyms.lists.map((l: { list: number }) => l.list), [3]);
  const four = ltl(['vlm', 'eval', '--checkpoint', out, '--limit', '2', '--split', 'val', '--no-broad', '--synonym-lists', '1,4']);
  assert.equal(four.status, 1);
  assert.match(four.stderr.trim(), /^ltl: error: --synonym-lists takes lists of 1, 2, 3, not '4'$/);
  // One line per prompt with words the model reads as others.
  assert.match(e.stderr, /prompt "a figure": read "figure" as "digit" 75 % \+ "number" 25 % \(WordNet synonyms\)/);
  const bad = ltl(['vlm', 'train', '--seed', '3', '--corpus', 'everything', '--out', out, '--steps', '1']);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--corpus must be one of digits, broad/);
});

test('ltl vlm eval names a missing checkpoint file clearly', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'ltl-vlm-cli-'));
  fs.writeFileSync(path.join(out, 'model.json'), '{}');
  const e = ltl(['vlm', 'eval', '--checkpoint', out, '--limit', '5']);
  assert.equal(e.status, 1);
  assert.match(e.stderr, /ltl: error: VLM checkpoint .* is missing weights\.safetensors, vocab\.json, meta\.json/);
});

test('ltl vlm eval --checkpoint naming a file says it is a file, not a folder', () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ltl-vlm-cli-')), 'some-file.sh');
  fs.writeFileSync(file, 'echo\n');
  const e = ltl(['vlm', 'eval', '--checkpoint', file, '--limit', '5']);
  assert.equal(e.status, 1);
  assert.match(e.stderr, /^ltl: error: VLM checkpoint .*some-file\.sh is a file, not a folder/);
  assert.doesNotMatch(e.stderr, /does not exist/);
});
