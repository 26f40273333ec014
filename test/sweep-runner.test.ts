import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { planRuns, readResult, readState, runDir, runSweep, type SweepOptions } from '../lib/experiments/sweep/runner';
import { loadSweep, meanStd, sweepCsv } from '../lib/experiments/sweep/report';
import { meanStd as sampleMeanStd } from '../lib/util/stats';
import type { Grid } from '../lib/experiments/sweep/grid';
import { tmpDirs } from './tmp-helpers';
import { writeSealedJson } from '../lib/util/sealed';
import { writeCheckpoint } from '../lib/train/checkpoint';
import { inspectResult } from '../lib/experiments/sweep/run-files';

const FAKE = [process.execPath, path.join(__dirname, 'fixtures', 'fake-train.js')];

function sweep(outDir: string, grid: Grid, extra: Partial<SweepOptions> & { fakeEnv?: Record<string, string> } = {}) {
  const { fakeEnv, ...rest } = extra;
  return runSweep({
    outDir,
    runs: planRuns([grid]),
    grids: [grid],
    workers: 2,
    trainCommand: FAKE,
    env: { ...process.env, FAKE_TRAIN_EPOCH_MS: '10', ...fakeEnv },
    ...rest,
  });
}

const tmp = tmpDirs('ltl-sweep-');

const trainedEpochs = (dir: string) => (readResult(dir)!.trained as { epoch: number }[]).map((t) => t.epoch);

test('a sweep runs every run once; a rerun skips finished runs without starting them', async () => {
  const out = tmp();
  const grid: Grid = { dataset: 'decoymnist', method: ['vanilla', 'align'], seed: [1, 2], epochs: 2 };
  const first = await sweep(out, grid);
  assert.equal(first.counts.done, 4);
  const runs = planRuns([grid]);
  for (const r of runs) {
    assert.deepEqual(trainedEpochs(runDir(out, r.id)), [0, 1]);
    assert.equal(readState(runDir(out, r.id))!.attempts, 1);
    assert.ok(!fs.existsSync(path.join(runDir(out, r.id), 'sweep.lock')), 'lock released');
    // The trainer got the config as flags, plus --out and --json.
    assert.deepEqual(readResult(runDir(out, r.id))!.config, Object.fromEntries(Object.entries(r.config).map(([k, v]) => [k, String(v)])));
  }
  const mtimes = runs.map((r) => fs.statSync(path.join(runDir(out, r.id), 'result.json')).mtimeMs);
  const second = await sweep(out, grid);
  assert.equal(second.counts['skipped-done'], 4);
  assert.equal(second.counts.done, 0);
  assert.deepEqual(runs.map((r) => fs.statSync(path.join(runDir(out, r.id), 'result.json')).mtimeMs), mtimes);
  assert.deepEqual(runs.map((r) => readState(runDir(out, r.id))!.attempts), [1, 1, 1, 1]);
  // Growing the grid adds only the new runs.
  const third = await sweep(out, { ...grid, seed: [1, 2, 3] });
  assert.equal(third.counts.done, 2);
  assert.equal(third.counts['skipped-done'], 4);
  assert.equal(loadSweep(out).runs.length, 6);
});

test('a run whose result ltl train wrote counts as done only with its selected weights intact, as for ltl train', async () => {
  const out = tmp();
  const grid: Grid = { dataset: 'decoymnist', method: 'vanilla', seed: 1, epochs: 1 };
  assert.equal((await sweep(out, grid)).counts.done, 1);
  const dir = runDir(out, planRuns([grid])[0].id);
  // Make the run folder one ltl train (its --out is the run folder) finished: a sealed result with its epochs, and no
  // selected.safetensors (lost). The fake trainer's unsealed result is judged by itself, as before (the test above).
  const epochs = [{ epoch: 0, valAcc: 0.9 }];
  writeSealedJson(path.join(dir, 'result.json'), { ...readResult(dir), epochs, selectedEpoch: 0 });
  const rerun = await sweep(out, grid);
  assert.equal(rerun.counts.failed, 1, 'failed, not done, and not started again (the trainer would refuse the folder)');
  const selected = path.join(dir, 'selected.safetensors');
  const want = new RegExp(`^${selected.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is missing: the weights of epoch 1, which validation selected, are gone; `);
  assert.match(rerun.outcomes[0].error ?? '', want);
  assert.equal(readState(dir)!.attempts, 1);
  const report = loadSweep(out).runs[0];
  assert.equal(report.status, 'failed');
  assert.match(report.error ?? '', want);
  // The run's own selected weights put back: done again.
  writeCheckpoint(selected, { epoch: 0, rng: { seed: 1, nextEpoch: 1 }, history: epochs, trainSeconds: 1, imagesTrained: 1 }, { weights: {}, slots: {}, step: 1 });
  assert.equal((await sweep(out, grid)).counts['skipped-done'], 1);
  assert.equal(loadSweep(out).runs[0].status, 'done');
  // Its checksum key removed and a number edited: in a folder ltl train wrote (a sealed config.json), not a result.
  writeSealedJson(path.join(dir, 'config.json'), grid);
  const edited = { ...readResult(dir)!, testAccSelected: 0.99 };
  delete edited.sha256;
  fs.writeFileSync(path.join(dir, 'result.json'), JSON.stringify(edited));
  assert.match(inspectResult(dir).error ?? '', /has no 'sha256' checksum, though ltl train wrote this run folder/);
  assert.equal(readResult(dir), undefined);
  assert.notEqual(loadSweep(out).runs[0].status, 'done');
});

test('a damaged sweep.json or sweep-run.json says it is rebuilt from the grid once deleted; deleted, the next sweep writes it and keeps every result', async () => {
  const out = tmp();
  const grid: Grid = { dataset: 'decoymnist', method: 'vanilla', seed: [1, 2], epochs: 1 };
  assert.equal((await sweep(out, grid)).counts.done, 2);
  const plan = path.join(out, 'sweep.json');
  fs.writeFileSync(plan, fs.readFileSync(plan, 'utf8').replace('"order"', '"ordex"'));
  assert.throws(() => loadSweep(out), (e: Error) => e.message.startsWith(`sweep plan ${plan} is corrupt`) && e.message.endsWith(`; delete ${plan}: the next ltl sweep with this grid writes it again, and every run's results are kept`));
  await assert.rejects(sweep(out, grid), /delete .*sweep\.json: the next ltl sweep with this grid writes it again/);
  const runFile = path.join(runDir(out, planRuns([grid])[0].id), 'sweep-run.json');
  fs.rmSync(plan);
  fs.writeFileSync(runFile, '{"id": ');
  assert.throws(() => loadSweep(out), (e: Error) => e.message.includes(runFile) && e.message.endsWith('writes it again, and every run\'s results are kept'));
  fs.rmSync(runFile);
  assert.equal((await sweep(out, grid)).counts['skipped-done'], 2);
  assert.deepEqual(loadSweep(out).runs.map((r) => r.status), ['done', 'done']);
});

test('a failing run is recorded with its stderr tail and does not stop the others; attempts count retries', async () => {
  const out = tmp();
  const grid: Grid = { dataset: 'decoymnist', method: ['vanilla', 'align'], seed: [1, 2, 3], epochs: 1 };
  const s = await sweep(out, grid, { fakeEnv: { FAKE_TRAIN_FAIL: 'seed=2' } });
  assert.equal(s.counts.failed, 2);
  assert.equal(s.counts.done, 4);
  const report = loadSweep(out);
  const failed = report.runs.filter((r) => r.status === 'failed');
  assert.deepEqual(failed.map((r) => r.config.seed), [2, 2]);
  for (const r of failed) {
    assert.match(r.error ?? '', /^exit code 3: fake-train: told to fail \(seed=2\)\n/, 'the first line says why');
    assert.match(r.error ?? '', /told to fail \(seed=2\)/);
    assert.equal(r.attempts, 1);
  }
  // --skip-failed leaves them alone; a plain rerun retries them (the cause may be gone).
  const skipped = await sweep(out, grid, { retryFailed: false });
  assert.equal(skipped.counts['skipped-failed'], 2);
  assert.equal(loadSweep(out).runs.find((r) => r.status === 'failed')!.attempts, 1);
  const retried = await sweep(out, grid);
  assert.equal(retried.counts.done, 2);
  const after = loadSweep(out);
  assert.ok(after.runs.every((r) => r.status === 'done'));
  assert.deepEqual(after.runs.map((r) => r.attempts), after.runs.map((r) => (r.config.seed === 2 ? 2 : 1)));
  const st = readState(runDir(out, failed[0].id))!;
  assert.deepEqual(st.history.map((h) => h.status), ['failed', 'done']);
  assert.equal(st.error, undefined);
});

test('a trainer killed half way is recorded, and the rerun resumes from its checkpoint', async () => {
  const out = tmp();
  const grid: Grid = { dataset: 'decoymnist', method: 'align', seed: [1, 2], epochs: 4 };
  const s = await sweep(out, grid, { fakeEnv: { FAKE_TRAIN_DIE: 'seed=1@1' } });
  assert.equal(s.counts.failed, 1);
  const dead = s.outcomes.find((o) => o.status === 'failed')!;
  assert.match(dead.error ?? '', /^killed by SIGKILL/);
  assert.equal(JSON.parse(fs.readFileSync(path.join(runDir(out, dead.id), 'ckpt.json'), 'utf8')).epoch, 1);
  const again = await sweep(out, grid);
  assert.equal(again.counts.done, 1);
  const dir = runDir(out, dead.id);
  assert.deepEqual(trainedEpochs(dir), [0, 1, 2, 3], 'no epoch redone or skipped');
  const pids = (readResult(dir)!.trained as { pid: number }[]).map((t) => t.pid);
  assert.equal(new Set(pids).size, 2, 'two processes: the killed one and the resumed one');
  assert.equal(readState(dir)!.attempts, 2);
});

test('two sweeps on one folder at once never run a run twice', async () => {
  const out = tmp();
  const grid: Grid = { dataset: 'decoymnist', method: ['vanilla', 'align', 'rrr'], seed: [1, 2, 3], epochs: 2 };
  const [a, b] = await Promise.all([sweep(out, grid, { workers: 2 }), sweep(out, grid, { workers: 2 })]);
  assert.equal(a.counts.done + b.counts.done, 9);
  assert.equal(a.counts.failed + b.counts.failed, 0);
  for (const r of loadSweep(out).runs) {
    assert.equal(r.status, 'done');
    assert.equal(r.attempts, 1);
    assert.deepEqual(trainedEpochs(runDir(out, r.id)), [0, 1]);
  }
});

test('report: one row per run, mean +- std over seeds per setting, pending runs listed', async () => {
  const out = tmp();
  const grid: Grid = { dataset: 'decoymnist', method: ['vanilla', 'align'], lambda: 160, seed: [1, 2, 3], epochs: 1 };
  await sweep(out, grid, { fakeEnv: { FAKE_TRAIN_FAIL: 'seed=3' } });
  // A second grid written to the plan but not run yet: its runs are pending.
  const plannedOnly = await sweep(out, { ...grid, method: 'rrr' }, { shard: { index: 0, count: 1 }, signal: AbortSignal.abort() });
  assert.equal(plannedOnly.counts.done, 0);
  const rep = loadSweep(out);
  assert.equal(rep.runs.length, 9);
  assert.deepEqual(rep.varying, ['method', 'seed']);
  assert.deepEqual(rep.runs.map((r) => r.status), ['done', 'done', 'failed', 'done', 'done', 'failed', 'pending', 'pending', 'pending']);
  assert.equal(rep.groups.length, 3);
  const g = rep.groups[0];
  assert.deepEqual(g.setting, { dataset: 'decoymnist', method: 'vanilla', lambda: 160, epochs: 1 });
  assert.equal(g.n, 3);
  assert.equal(g.nDone, 2);
  const vals = rep.runs.filter((r) => r.config.method === 'vanilla' && r.status === 'done').map((r) => r.testAccSelected!);
  const mean = (vals[0] + vals[1]) / 2;
  assert.ok(Math.abs(g.metrics.testAccSelected!.mean - mean) < 1e-12);
  assert.ok(Math.abs(g.metrics.testAccSelected!.std! - Math.abs(vals[0] - vals[1]) / Math.SQRT2) < 1e-12);
  assert.equal(rep.groups[2].metrics.testAccSelected, undefined);
  assert.deepEqual(meanStd([1, 2, 3]), { mean: 2, std: 1, n: 3 });
  assert.equal(meanStd([5])!.std, null);
  assert.equal(meanStd([]), undefined);
  // the shared helper behind it (and behind runSeeds and the notebook tables): std 0 for one value
  assert.deepEqual(sampleMeanStd([5]), { mean: 5, std: 0, n: 1 });
  assert.ok(Number.isNaN(sampleMeanStd([]).mean));
  const csv = sweepCsv(rep).trim().split('\n');
  assert.equal(csv.filter((l) => l.startsWith('decoymnist_')).length, 9);
  assert.ok(csv.some((l) => /told to fail \(seed=3\)"$/.test(l)), 'multi-line error quoted');
  assert.equal(csv[0], 'id,status,attempts,dataset,method,lambda,seed,epochs,testAccSelected,testAccFinal,valAccSelected,selectedEpoch,imagesPerSecond,error');
  assert.match(csv[3], /,failed,1,.*,"exit code 3: fake-train: told to fail \(seed=3\)$/);
});

test('a worker whose lock is taken over stops its trainer and leaves the run to the new holder', async () => {
  const out = tmp();
  const grid: Grid = { dataset: 'decoymnist', method: 'vanilla', seed: 1, epochs: 100 };
  const [run] = planRuns([grid]);
  const lockFile = path.join(runDir(out, run.id), 'sweep.lock');
  let planted = false;
  const t0 = Date.now();
  const summary = await sweep(out, grid, {
    workers: 1, heartbeatMs: 20, fakeEnv: { FAKE_TRAIN_EPOCH_MS: '100' },
    onEvent: (e) => {
      if (e.type !== 'start') return;
      // Another host judged this worker stale and took the lock (what tryAcquireLock writes).
      setTimeout(() => {
        fs.writeFileSync(lockFile, JSON.stringify({ pid: 1, hostname: 'node-999.cluster', startedAt: new Date().toISOString(), heartbeat: Date.now(), token: 'theirs' }));
        planted = true;
      }, 250);
    },
  });
  assert.ok(planted);
  const [o] = summary.outcomes;
  assert.equal(o.status, 'interrupted');
  assert.match(o.error ?? '', /taken over by another worker \(node-999\.cluster\)/);
  assert.ok(Date.now() - t0 < 5_000, 'trainer stopped long before its 100 epochs');
  assert.equal(readResult(runDir(out, run.id)), undefined);
  assert.equal(JSON.parse(fs.readFileSync(lockFile, 'utf8')).token, 'theirs', "the new holder's lock is left alone");
  assert.equal(readState(runDir(out, run.id))!.status, 'running', "state.json is the new holder's to write");
});
