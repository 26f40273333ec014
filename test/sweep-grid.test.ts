import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { canonicalJson, runId, settingKey } from '../lib/experiments/sweep/run-id';
import { configToArgs, expandGrid, loadGridFile, parseGrids } from '../lib/experiments/sweep/grid';
import { planRuns } from '../lib/experiments/sweep/runner';
import { parseShard, selectShard } from '../lib/experiments/sweep/shard';
import { UserError } from '../lib/util/errors';

test('run ids: same config in another key order -> same id; any change -> another id', () => {
  const a = { dataset: 'decoymnist', method: 'align', lambda: 160, seed: 1, epochs: 5 };
  const b = { epochs: 5, seed: 1, lambda: 160, method: 'align', dataset: 'decoymnist' };
  assert.equal(canonicalJson(a), canonicalJson(b));
  assert.equal(runId(a), runId(b));
  assert.match(runId(a), /^decoymnist_align_e5_l160_s1-[0-9a-f]{12}$/);
  const ids = new Set([
    runId(a),
    runId({ ...a, seed: 2 }),
    runId({ ...a, lambda: 120 }),
    runId({ ...a, lambda: '160' }), // a string is another config than a number
    runId({ ...a, limit: 1000 }),
    runId({ dataset: 'decoymnist', method: 'align', lambda: 160, seed: 1 }),
  ]);
  assert.equal(ids.size, 6);
  // Stable across releases: a changed hash would orphan every finished run of existing sweeps.
  // (pinned: sha256 of '{"dataset":"decoymnist","method":"vanilla","seed":1}')
  assert.equal(runId({ seed: 1, method: 'vanilla', dataset: 'decoymnist' }), 'decoymnist_vanilla_s1-061e76c3ae68');
  // Long or path-like values still give a safe folder name.
  const odd = runId({ dataset: 'decoymnist', maps: '/data/maps dir/clip seg.bin', method: 'align' });
  assert.match(odd, /^[A-Za-z0-9._+-]+$/);
  assert.equal(settingKey({ ...a, seed: 7 }), settingKey(b));
});

test('grid expansion: cartesian product in file order, scalars as single values, grids united', () => {
  const runs = expandGrid({ dataset: 'decoymnist', method: ['vanilla', 'align'], lambda: [100, 200, 300], seed: [1, 2] });
  assert.equal(runs.length, 12);
  assert.deepEqual(runs[0], { dataset: 'decoymnist', method: 'vanilla', lambda: 100, seed: 1 });
  assert.deepEqual(runs[1], { dataset: 'decoymnist', method: 'vanilla', lambda: 100, seed: 2 });
  assert.deepEqual(runs[11], { dataset: 'decoymnist', method: 'align', lambda: 300, seed: 2 });
  assert.equal(new Set(runs.map(runId)).size, 12);

  // An array of grids: vanilla without lambdas plus align with them; a duplicate run is kept once.
  const grids = parseGrids(
    [
      { dataset: 'decoymnist', method: 'vanilla', seed: [1, 2, 3] },
      { dataset: 'decoymnist', method: 'align', lambda: [100, 200], seed: [1, 2, 3] },
      { seed: [3, 2], method: 'vanilla', dataset: 'decoymnist' },
    ],
    'test',
  );
  assert.equal(planRuns(grids).length, 9);
  assert.deepEqual(configToArgs({ dataset: 'd', attentionEpoch: 3, evalLimit: 10, flag: true, other: false }), [
    '--dataset', 'd', '--attention-epoch', '3', '--eval-limit', '10', '--flag', '--no-other',
  ]);
});

test('grid files: bad input is a UserError naming the file and the option', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ltl-grid-'));
  const file = path.join(dir, 'g.json');
  const expectError = (content: string, re: RegExp) => {
    fs.writeFileSync(file, content);
    assert.throws(() => loadGridFile(file), (e: unknown) => e instanceof UserError && re.test(e.message) && e.message.includes(file));
  };
  expectError('{"dataset": ["decoymnist"], "lamda": [1]}', /unknown train option 'lamda'/);
  expectError('{"dataset": []}', /'dataset' has an empty list/);
  expectError('{"dataset": "decoymnist", "out": "y"}', /'out' is set by the sweep/);
  expectError('{"dataset": [{"a": 1}]}', /'dataset' has value/);
  expectError('{"seed": [1, 1]}', /lists a value twice/);
  expectError('{"dataset": ', /not valid JSON/);
  expectError('[1]', /must be a JSON object/);
  // Values are checked as `ltl train` reads them (the declared options' types, choices and ranges).
  expectError('{"dataset": "decoymnist", "method": ["align", "alignn"]}', /option 'method': --method must be one of .*not 'alignn'/);
  expectError('{"dataset": "decoymnist", "epochs": [3, 0]}', /option 'epochs': --epochs must be an integer >= 1, not '0'/);
  // dataset names are looked up in the registry, so a misspelt one fails the grid, not its runs
  expectError('{"dataset": ["decoymnist", "decoymnsit"]}', /option 'dataset': unknown dataset 'decoymnsit'/);
  assert.throws(() => loadGridFile(path.join(dir, 'missing.json')), /cannot read grid file/);
  fs.writeFileSync(file, '{"dataset": "decoymnist", "method": ["vanilla", "align"], "seed": [1, 2, 3]}');
  assert.equal(planRuns(loadGridFile(file)).length, 6);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('shards: every run in exactly one of N shards, sizes within one, independent of run order', () => {
  const runs = planRuns([{ dataset: ['decoymnist', 'colormnist'], method: ['vanilla', 'align', 'rrr'], lambda: [100, 200], seed: [1, 2, 3, 4, 5] }]);
  assert.equal(runs.length, 60);
  for (const n of [1, 2, 3, 7, 60, 61]) {
    const shards = Array.from({ length: n }, (_, i) => selectShard(runs, { index: i, count: n }));
    const all = shards.flat().map((r) => r.id);
    assert.equal(all.length, runs.length, `n=${n}`);
    assert.equal(new Set(all).size, runs.length, `n=${n}`);
    const sizes = shards.map((s) => s.length);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `n=${n} sizes ${sizes}`);
    // Another machine listing the grid in another order gets the same shard.
    const reversed = selectShard([...runs].reverse(), { index: n - 1, count: n }).map((r) => r.id).sort();
    assert.deepEqual(reversed, shards[n - 1].map((r) => r.id).sort());
  }
  // A shard does not get all runs of one seed (the hash, not the readable prefix, orders runs).
  const seeds = new Set(selectShard(runs, { index: 0, count: 5 }).map((r) => r.config.seed));
  assert.ok(seeds.size > 1);
  assert.deepEqual(parseShard('2/4'), { index: 2, count: 4 });
  assert.throws(() => parseShard('4/4'), UserError);
  assert.throws(() => parseShard('1/0'), UserError);
  assert.throws(() => parseShard('a/b'), UserError);
});
