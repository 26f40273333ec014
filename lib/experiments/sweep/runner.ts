import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readSealedJson, writeSealedJson } from '../../util/sealed';
import { UserError, withAdvice } from '../../util/errors';
import { expandGrids, type Grid, type RunConfig } from './grid';
import { canonicalJson, runId } from './run-id';
import { selectShard, type Shard } from './shard';
import { readLock, tryAcquireLock, type LockOptions } from '../../util/lock';
import { defaultTrainCommand, failureCause, spawnTrainer } from './trainer-process';
import { RUN_FILES, inspectResult, readResult, readState, runDir } from './run-files';

// a run folder's files, as the runner always exported them
export { RUNS_DIR, RUN_FILES, runDir, inspectResult, readResult, readState } from './run-files';

/** One run of a sweep: its stable id and the `ltl train` options it runs with. */
export interface PlannedRun {
  id: string;
  config: RunConfig;
}

/** Per-run bookkeeping of the sweep (runs/<id>/sweep-state.json), written atomically under the run's lock. */
export interface RunState {
  id: string;
  /** How many times a worker started this run's trainer. */
  attempts: number;
  status: 'running' | 'done' | 'failed' | 'interrupted';
  startedAt?: string;
  finishedAt?: string;
  seconds?: number;
  exitCode?: number | null;
  signal?: string | null;
  /** Why it failed: exit status and the trainer's error line, then the tail of its stderr. */
  error?: string;
  /** How the state was settled when not by the worker that started the run (e.g. an orphaned trainer finished it). */
  note?: string;
  host?: string;
  pid?: number;
  history: { attempt: number; startedAt: string; finishedAt?: string; status: string; host: string; exitCode?: number | null; signal?: string | null }[];
}

export type RunOutcomeStatus = 'done' | 'failed' | 'interrupted' | 'skipped-done' | 'skipped-busy' | 'skipped-failed';

export interface RunOutcome {
  id: string;
  status: RunOutcomeStatus;
  attempts?: number;
  seconds?: number;
  error?: string;
  tookOverFrom?: string;
}

export type SweepEvent =
  | { type: 'start'; id: string; attempt: number; worker: number; tookOverFrom?: string }
  | { type: 'finish'; outcome: RunOutcome; worker: number; finished: number; total: number };

export interface SweepOptions extends LockOptions {
  outDir: string;
  /** The whole sweep (all shards); the shard picks this job's part. */
  runs: PlannedRun[];
  grids?: Grid[];
  workers?: number;
  shard?: Shard;
  /** Command prefix a run executes; config flags, `--out DIR --json` are appended. */
  trainCommand?: string[];
  env?: NodeJS.ProcessEnv;
  /** Rerun runs that failed before (default true: failures are often transient). */
  retryFailed?: boolean;
  /** Abort: no new runs start, running trainers get SIGTERM and are recorded as interrupted. */
  signal?: AbortSignal;
  onEvent?: (e: SweepEvent) => void;
}

export interface SweepSummary {
  outDir: string;
  total: number;
  shard?: Shard;
  selected: number;
  counts: Record<RunOutcomeStatus, number>;
  outcomes: RunOutcome[];
  interrupted: boolean;
}

/** The sweep's runs from its grids: cartesian products, united, each with its stable id. */
export function planRuns(grids: Grid[]): PlannedRun[] {
  return expandGrids(grids, canonicalJson).map((config) => ({ id: runId(config), config }));
}

/**
 * Runs a sweep (or one shard of it): each run in its own child process, `workers` at a time.
 * Finished runs are skipped, a run held by a live worker elsewhere is left to it, a stale lock is
 * taken over (the trainer resumes from its checkpoints), failures are recorded and do not stop
 * the others.
 */
export async function runSweep(opts: SweepOptions): Promise<SweepSummary> {
  const outDir = path.resolve(opts.outDir);
  const workers = Math.max(1, Math.floor(opts.workers ?? 1));
  const cmd = opts.trainCommand ?? defaultTrainCommand(opts.env ?? process.env);
  const env = { ...(opts.env ?? process.env) };
  // Two trainers on two cores must not each start one thread per core.
  if (env.LTL_THREADS === undefined) env.LTL_THREADS = String(Math.max(1, Math.floor(os.cpus().length / workers)));

  writePlan(outDir, opts.runs, opts.grids);
  const mine = opts.shard ? selectShard(opts.runs, opts.shard) : opts.runs;
  const outcomes: RunOutcome[] = new Array(mine.length);
  let next = 0;
  let finished = 0;

  const worker = async (w: number) => {
    while (!opts.signal?.aborted) {
      const i = next++;
      if (i >= mine.length) return;
      const outcome = await runOne(mine[i], outDir, cmd, env, opts, w);
      outcomes[i] = outcome;
      finished++;
      opts.onEvent?.({ type: 'finish', outcome, worker: w, finished, total: mine.length });
    }
  };
  await Promise.all(Array.from({ length: Math.min(workers, Math.max(1, mine.length)) }, (_, w) => worker(w)));

  const done = outcomes.filter((o): o is RunOutcome => o !== undefined);
  const counts: Record<RunOutcomeStatus, number> = {
    done: 0, failed: 0, interrupted: 0, 'skipped-done': 0, 'skipped-busy': 0, 'skipped-failed': 0,
  };
  for (const o of done) counts[o.status]++;
  return {
    outDir,
    total: opts.runs.length,
    shard: opts.shard,
    selected: mine.length,
    counts,
    outcomes: done,
    interrupted: !!opts.signal?.aborted,
  };
}

/** Writes sweep.json (grids and run order, united with earlier invocations) and each run's sweep-run.json. */
function writePlan(outDir: string, runs: PlannedRun[], grids?: Grid[]): void {
  const planFile = path.join(outDir, 'sweep.json');
  const prev: { order?: string[]; grids?: Grid[] } = withRebuildAdvice(() => readSealedJson(planFile, 'sweep plan'), planFile) ?? {};
  const order = [...(prev.order ?? [])];
  const known = new Set(order);
  for (const r of runs) if (!known.has(r.id)) order.push(r.id);
  const allGrids = [...(prev.grids ?? [])];
  for (const g of grids ?? []) if (!allGrids.some((x) => canonicalJson(x) === canonicalJson(g))) allGrids.push(g);
  // Several shards may write this at once: each write is atomic and they write the same content.
  writeSealedJson(planFile, { grids: allGrids, order });
  for (const r of runs) {
    const file = path.join(runDir(outDir, r.id), RUN_FILES.run);
    const have = withRebuildAdvice(() => readSealedJson<{ id: string; config: RunConfig }>(file, 'sweep run'), file);
    if (!have) writeSealedJson(file, { id: r.id, config: r.config });
    else if (have.id !== r.id) throw new UserError(`sweep run ${file} names run ${have.id}, not ${r.id}; delete it to rerun this run`);
  }
}

/**
 * Runs `read` of a sweep file that the grid determines (sweep.json, a run's sweep-run.json); a damaged one's UserError
 * says so: deleted, it is written again from the grid by the next `ltl sweep`, and no run is lost (results stay in
 * their run folders).
 */
export function withRebuildAdvice<T>(read: () => T, file: string): T {
  return withAdvice(read, `delete ${file}: the next ltl sweep with this grid writes it again, and every run's results are kept`);
}

/** readState, with a damaged file as the run's failure (named, with what to do) instead of a thrown error. */
function stateOrFailure(dir: string, id: string): { state?: RunState; failed?: RunOutcome } {
  try {
    return { state: readState(dir) };
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    return { failed: { id, status: 'failed', error: `${e.message}; delete it to rerun this run` } };
  }
}

/**
 * A finished run whose state still says 'running' (its worker was killed, its orphaned trainer
 * finished the run) or whose lock was left behind: mark it done and remove the lock, unless a live
 * worker still holds it (that worker settles it itself).
 */
function settleFinished(dir: string, state: RunState | undefined, opts: SweepOptions): void {
  const lockFile = path.join(dir, RUN_FILES.lock);
  if (state?.status !== 'running' && !fs.existsSync(lockFile)) return;
  const lock = tryAcquireLock(lockFile, opts);
  if (!lock) return;
  try {
    const st = stateOrFailure(dir, state?.id ?? '').state;
    if (st?.status === 'running') {
      const finishedAt = new Date().toISOString();
      const history = [...st.history];
      const last = history[history.length - 1];
      if (last && last.status === 'running') history[history.length - 1] = { ...last, status: 'done', finishedAt };
      writeSealedJson(path.join(dir, RUN_FILES.state), {
        ...st, status: 'done', finishedAt, history,
        note: 'finished by its trainer after the worker that started it was gone; settled by a later sweep',
      } satisfies RunState);
    }
  } finally {
    lock.release();
  }
}

async function runOne(run: PlannedRun, outDir: string, cmd: string[], env: NodeJS.ProcessEnv, opts: SweepOptions, w: number): Promise<RunOutcome> {
  const dir = runDir(outDir, run.id);
  const first = stateOrFailure(dir, run.id);
  if (first.failed) return first.failed;
  const before = first.state;
  const found = inspectResult(dir);
  if (found.result) {
    settleFinished(dir, before, opts);
    return { id: run.id, status: 'skipped-done', attempts: before?.attempts };
  }
  // A finished run without its selected weights: the trainer would refuse the folder with this same message.
  if (found.incomplete) return { id: run.id, status: 'failed', attempts: before?.attempts, error: found.error };
  if (opts.retryFailed === false && before?.status === 'failed') {
    return { id: run.id, status: 'skipped-failed', attempts: before.attempts, error: before.error };
  }
  const lock = tryAcquireLock(path.join(dir, RUN_FILES.lock), opts);
  if (!lock) return { id: run.id, status: 'skipped-busy' };
  try {
    // Another worker may have finished it between our first look and taking the lock.
    const again = stateOrFailure(dir, run.id);
    if (again.failed) return again.failed;
    const prev = again.state;
    if (readResult(dir)) return { id: run.id, status: 'skipped-done', attempts: prev?.attempts };
    const attempt = (prev?.attempts ?? 0) + 1;
    const startedAt = new Date().toISOString();
    const history = [...(prev?.history ?? [])];
    // An attempt left 'running' by a killed worker is closed as interrupted.
    const last = history[history.length - 1];
    if (last && last.status === 'running') last.status = 'interrupted';
    history.push({ attempt, startedAt, status: 'running', host: os.hostname() });
    const state: RunState = { id: run.id, attempts: attempt, status: 'running', startedAt, host: os.hostname(), pid: process.pid, history };
    writeSealedJson(path.join(dir, RUN_FILES.state), state);
    opts.onEvent?.({ type: 'start', id: run.id, attempt, worker: w, tookOverFrom: lock.tookOverFrom });

    const t0 = Date.now();
    // Stop the trainer on a sweep abort, or when another worker has taken this run's lock over.
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.signal?.aborted) stop.abort();
    lock.onLost = () => stop.abort();
    const exit = await spawnTrainer(cmd, run, dir, env, stop.signal, (pid) => lock.setChildPid(pid)).finally(() => opts.signal?.removeEventListener('abort', onAbort));
    const seconds = (Date.now() - t0) / 1000;
    if (lock.lost) {
      // The run and its state.json belong to the worker that took the lock: leave both alone.
      const error = `stopped: its lock was taken over by another worker (${readLock(path.join(dir, RUN_FILES.lock))?.hostname ?? 'unknown host'}), which runs it now`;
      return { id: run.id, status: 'interrupted', attempts: attempt, seconds, error, tookOverFrom: lock.tookOverFrom };
    }
    const result = readResult(dir);
    let status: RunState['status'];
    let error: string | undefined;
    if (result) status = 'done';
    else if (opts.signal?.aborted) {
      status = 'interrupted';
      error = 'the sweep was interrupted';
    } else {
      status = 'failed';
      const how = exit.error
        ? `could not start ${cmd[0]}: ${exit.error}`
        : exit.signal
          ? `killed by ${exit.signal}`
          : exit.code === 0
            ? 'exited 0 without writing a valid result.json'
            : `exit code ${exit.code}`;
      // The first line says why (the trainer's own error line); the stderr tail follows for context.
      const cause = failureCause(exit.stderrTail);
      error = exit.stderrTail.trim() ? `${how}${cause ? `: ${cause}` : ''}\n${exit.stderrTail.trim()}` : how;
    }
    history[history.length - 1] = { ...history[history.length - 1], status, finishedAt: new Date().toISOString(), exitCode: exit.code, signal: exit.signal };
    writeSealedJson(path.join(dir, RUN_FILES.state), {
      ...state, status, finishedAt: new Date().toISOString(), seconds, exitCode: exit.code, signal: exit.signal, error, history,
    } satisfies RunState);
    return { id: run.id, status, attempts: attempt, seconds, error, tookOverFrom: lock.tookOverFrom };
  } finally {
    lock.release();
  }
}
