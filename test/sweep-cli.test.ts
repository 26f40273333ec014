import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { tmpDirs } from './tmp-helpers';

// These tests drive `ltl sweep` as separate processes (from the TypeScript sources via tsx), with
// the fake trainer standing in for `ltl train`.
const LTL = path.join(__dirname, 'fixtures', 'ltl-dev.js');
const FAKE_CMD = JSON.stringify([process.execPath, path.join(__dirname, 'fixtures', 'fake-train.js')]);

const tmp = tmpDirs('ltl-sweepcli-');

function start(args: string[], env: Record<string, string> = {}, detached = false): ChildProcess & { out: Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> } {
  const child = spawn(process.execPath, [LTL, ...args], {
    env: { ...process.env, LTL_SWEEP_TRAIN_CMD: FAKE_CMD, FAKE_TRAIN_EPOCH_MS: '20', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached,
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (b) => (stdout += b));
  child.stderr!.on('data', (b) => (stderr += b));
  const out = new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return Object.assign(child, { out });
}

const ltl = (args: string[], env: Record<string, string> = {}) => start(args, env).out;

async function report(dir: string): Promise<{ runs: any[]; groups: any[] }> {
  const r = await ltl(['sweep-report', dir, '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function writeGrid(dir: string, grid: unknown): string {
  const file = path.join(dir, 'grid.json');
  fs.writeFileSync(file, JSON.stringify(grid));
  return file;
}

test('kill the whole sweep process group half way; the rerun finishes every run exactly once', async () => {
  const dir = tmp();
  const out = path.join(dir, 'sweep');
  const grid = writeGrid(dir, { dataset: 'decoymnist', method: ['vanilla', 'align'], lambda: [100, 200], seed: [1, 2], epochs: 3 });
  const args = ['sweep', '--grid', grid, '--out', out, '--workers', '2'];
  const first = start(args, { FAKE_TRAIN_EPOCH_MS: '150' }, true);
  // Wait until some runs are done and another has a checkpoint but no result yet.
  const runsDir = path.join(out, 'runs');
  for (let i = 0; ; i++) {
    assert.ok(i < 300, 'sweep made no progress');
    await sleep(50);
    if (!fs.existsSync(runsDir)) continue;
    const ids = fs.readdirSync(runsDir);
    const done = ids.filter((id) => fs.existsSync(path.join(runsDir, id, 'result.json'))).length;
    const half = ids.filter((id) => fs.existsSync(path.join(runsDir, id, 'ckpt.json')) && !fs.existsSync(path.join(runsDir, id, 'result.json'))).length;
    if (done >= 2 && half >= 1) break;
  }
  process.kill(-first.pid!, 'SIGKILL'); // the sweep and its trainers, as a scheduler or OOM killer would
  const killed = await first.out;
  assert.equal(killed.signal, 'SIGKILL');
  const mid = await report(out);
  assert.ok(mid.runs.some((r) => r.status === 'pending' && r.attempts === 1), 'a run was interrupted');
  const doneBefore = new Set(mid.runs.filter((r) => r.status === 'done').map((r) => r.id));

  const second = await ltl([...args, '--json']);
  assert.equal(second.code, 0, second.stderr);
  const summary = JSON.parse(second.stdout.trim().split('\n').pop()!);
  assert.equal(summary.counts['skipped-done'], doneBefore.size);
  assert.equal(summary.counts.done, 8 - doneBefore.size);
  const fin = await report(out);
  assert.equal(fin.runs.length, 8);
  let resumed = 0;
  for (const r of fin.runs) {
    assert.equal(r.status, 'done', r.id);
    const result = JSON.parse(fs.readFileSync(path.join(runsDir, r.id, 'result.json'), 'utf8'));
    assert.deepEqual(result.trained.map((t: any) => t.epoch), [0, 1, 2], `${r.id}: every epoch trained exactly once`);
    const interrupted = new Set(result.trained.map((t: any) => t.pid)).size > 1;
    if (interrupted) resumed++;
    assert.equal(r.attempts, doneBefore.has(r.id) ? 1 : mid.runs.find((m) => m.id === r.id).attempts + 1);
    assert.ok(!fs.existsSync(path.join(runsDir, r.id, 'sweep.lock')));
  }
  assert.ok(resumed >= 1, 'at least one run resumed from a checkpoint of the killed sweep');
  assert.match(second.stderr, /taking over a stale lock: worker pid \d+ .* is gone/);
});

test('SIGTERM to the sweep stops its trainers, records them interrupted, exits 143', async () => {
  const dir = tmp();
  const out = path.join(dir, 'sweep');
  const grid = writeGrid(dir, { dataset: 'decoymnist', method: 'align', seed: [1, 2, 3], epochs: 20 });
  const child = start(['sweep', '--grid', grid, '--out', out, '--workers', '2'], { FAKE_TRAIN_EPOCH_MS: '100' });
  for (let i = 0; ; i++) {
    assert.ok(i < 300, 'no trainer started');
    await sleep(50);
    const runsDir = path.join(out, 'runs');
    if (fs.existsSync(runsDir) && fs.readdirSync(runsDir).some((id) => fs.existsSync(path.join(runsDir, id, 'ckpt.json')))) break;
  }
  child.kill('SIGTERM');
  const r = await child.out;
  assert.equal(r.code, 143, r.stderr);
  const rep = await report(out);
  assert.ok(rep.runs.every((x) => x.status === 'pending'));
  const states = rep.runs
    .map((x) => path.join(out, 'runs', x.id, 'sweep-state.json'))
    .filter((f) => fs.existsSync(f))
    .map((f) => JSON.parse(fs.readFileSync(f, 'utf8')));
  assert.equal(states.length, 2, 'two workers had started a run each');
  for (const s of states) assert.equal(s.status, 'interrupted');
  // The trainers are gone: no checkpoint moves any more.
  const ck = () => rep.runs.map((x) => path.join(out, 'runs', x.id, 'ckpt.json')).filter((f) => fs.existsSync(f)).map((f) => fs.readFileSync(f, 'utf8')).join();
  const before = ck();
  await sleep(300);
  assert.equal(ck(), before);
});

test('N shard processes sharing one folder give the same runs and results as one unsharded sweep', async () => {
  const dir = tmp();
  const grid = writeGrid(dir, [
    { dataset: 'decoymnist', method: 'vanilla', seed: [1, 2, 3], epochs: 2 },
    { dataset: 'decoymnist', method: 'align', lambda: [100, 160], seed: [1, 2, 3], epochs: 2 },
  ]);
  const sharded = path.join(dir, 'sharded');
  const single = path.join(dir, 'single');
  const N = 3;
  const results = await Promise.all([
    ...Array.from({ length: N }, (_, i) => ltl(['sweep', '--grid', grid, '--out', sharded, '--shard', `${i}/${N}`, '--workers', '1', '--json'])),
    ltl(['sweep', '--grid', grid, '--out', single, '--workers', '2', '--json']),
  ]);
  const summaries = results.map((r) => {
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout.trim().split('\n').pop()!);
  });
  // Every run ran in exactly one shard.
  const perShard = summaries.slice(0, N).map((s) => s.outcomes.map((o: any) => o.id));
  assert.deepEqual(perShard.map((ids) => ids.length).sort(), [3, 3, 3]);
  assert.equal(new Set(perShard.flat()).size, 9);
  for (const s of summaries.slice(0, N)) assert.equal(s.counts.done, 3);

  const strip = (rep: { runs: any[] }) => rep.runs.map(({ id, status, config, attempts, testAccSelected, testAccFinal, valAccSelected, selectedEpoch, imagesPerSecond }) => ({ id, status, config, attempts, testAccSelected, testAccFinal, valAccSelected, selectedEpoch, imagesPerSecond }));
  const a = await report(sharded);
  const b = await report(single);
  assert.equal(a.runs.length, 9);
  assert.deepEqual(strip(a), strip(b));
  assert.deepEqual(a.groups, b.groups);
  assert.ok(a.runs.every((r) => r.status === 'done' && r.attempts === 1));

  // --dry-run lists the same partition.
  const dry = await ltl(['sweep', '--grid', grid, '--out', sharded, '--shard', '1/3', '--dry-run', '--json']);
  assert.deepEqual(JSON.parse(dry.stdout.trim().split('\n').pop()!).runs.map((r: any) => r.id).sort(), [...perShard[1]].sort());
});

test('bad options are one-line user errors', async () => {
  const dir = tmp();
  const grid = writeGrid(dir, { dataset: 'decoymnist', lamda: [1] });
  const r1 = await ltl(['sweep', '--grid', grid, '--out', path.join(dir, 'o')]);
  assert.equal(r1.code, 1);
  assert.match(r1.stderr, /^ltl: error: grid .*grid\.json: unknown train option 'lamda'/);
  const r2 = await ltl(['sweep', '--grid', grid, '--out', path.join(dir, 'o'), '--shard', '3/3']);
  assert.match(r2.stderr, /ltl: error: --shard 3\/3: I must be in 0..2/);
  const r3 = await ltl(['sweep-report', path.join(dir, 'nothing')]);
  assert.equal(r3.code, 1);
  assert.match(r3.stderr, /is not a sweep folder/);
  // a dataset the registry does not know fails the grid, so --dry-run finds it before any run does
  const r4 = await ltl(['sweep', '--grid', writeGrid(dir, { dataset: ['decoymnist', 'nosuch'], method: ['vanilla'] }), '--out', path.join(dir, 'o'), '--dry-run']);
  assert.equal(r4.code, 1);
  assert.match(r4.stderr, /^ltl: error: grid .*: option 'dataset': unknown dataset 'nosuch'/);
});
