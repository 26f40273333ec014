import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../../util/errors';
import type { ConfigValue, RunConfig } from './grid';
import { canonicalJson, settingOf } from './run-id';
import { RUN_FILES, RUNS_DIR, inspectResult, readState, withRebuildAdvice, type RunState } from './runner';
import { readSealedJson } from '../../util/sealed';
import { readLock, staleReason } from '../../util/lock';
import { formatMeanStd, groupBy, meanStd as sampleMeanStd } from '../../util/stats';

/** Result fields the report shows (taken from each run's result.json). */
export const METRICS = ['testAccSelected', 'testAccFinal', 'valAccSelected', 'selectedEpoch', 'imagesPerSecond'] as const;
export type Metric = (typeof METRICS)[number];

export interface SweepRun {
  id: string;
  status: 'done' | 'failed' | 'pending';
  config: RunConfig;
  /** How many times a worker started this run. */
  attempts: number;
  /** A pending run a live worker holds right now. */
  running?: boolean;
  error?: string;
  testAccSelected?: number;
  testAccFinal?: number;
  valAccSelected?: number;
  /** 0-based, as in result.json (the printed tables add 1). */
  selectedEpoch?: number;
  imagesPerSecond?: number;
  /** The whole result.json (library only; the CLI's JSON leaves it out). */
  result?: Record<string, unknown>;
}

/** A metric's mean ± std over a setting's done runs, as the sweep's JSON reports it (lib/util/stats meanStd). */
export interface MeanStd {
  mean: number;
  /** Sample standard deviation (n - 1); null with one value. */
  std: number | null;
  n: number;
}

/** One setting: the runs whose configs differ only in the seed. */
export interface SweepGroup {
  setting: RunConfig;
  ids: string[];
  seeds: ConfigValue[];
  n: number;
  nDone: number;
  metrics: Partial<Record<Metric, MeanStd>>;
}

export interface Sweep {
  dir: string;
  runs: SweepRun[];
  groups: SweepGroup[];
  /** Config keys whose values differ between runs (the columns worth showing). */
  varying: string[];
}

/**
 * Loads a sweep folder: every run (done, failed or pending) with its config and results, and
 * mean +- std over seeds per setting. The ablation notebook reads sweeps through this.
 */
export function loadSweep(dir: string, opts: { groupOver?: readonly string[] } = {}): Sweep {
  const root = path.resolve(dir);
  const runsRoot = path.join(root, RUNS_DIR);
  if (!fs.existsSync(runsRoot)) throw new UserError(`${dir} is not a sweep folder (no ${RUNS_DIR}/ inside); run \`ltl sweep --out ${dir}\` first`);
  const planFile = path.join(root, 'sweep.json');
  const order: string[] = withRebuildAdvice(() => readSealedJson<{ order?: string[] }>(planFile, 'sweep plan'), planFile)?.order ?? [];
  const ids = fs.readdirSync(runsRoot).filter((d) => fs.existsSync(path.join(runsRoot, d, RUN_FILES.run)));
  const rank = new Map(order.map((id, i) => [id, i]));
  ids.sort((a, b) => (rank.get(a) ?? Infinity) - (rank.get(b) ?? Infinity) || (a < b ? -1 : a > b ? 1 : 0));

  const runs = ids.map((id) => loadRun(path.join(runsRoot, id), id));
  const keys = [...new Set(runs.flatMap((r) => Object.keys(r.config)))];
  const varying = keys.filter((k) => new Set(runs.map((r) => JSON.stringify(r.config[k] ?? null))).size > 1);
  return { dir: root, runs, groups: groupRuns(runs, opts.groupOver ?? ['seed']), varying };
}

function loadRun(dir: string, id: string): SweepRun {
  const runFile = path.join(dir, RUN_FILES.run);
  const { config } = withRebuildAdvice(() => readSealedJson<{ config: RunConfig }>(runFile, 'sweep run'), runFile)!;
  // A damaged state or result file makes its run 'failed' with a message naming the file.
  let state: RunState | undefined, stateError: string | undefined;
  try {
    state = readState(dir);
  } catch (e) {
    stateError = (e as Error).message;
  }
  const { result, error: resultError } = inspectResult(dir);
  const run: SweepRun = { id, status: 'pending', config, attempts: state?.attempts ?? 0 };
  if (resultError || stateError) {
    run.status = 'failed';
    run.error = (resultError ?? stateError)!;
  } else if (result) {
    run.status = 'done';
    for (const m of METRICS) {
      const v = findNumber(result, m);
      if (v !== undefined) run[m] = v;
    }
    run.result = result;
  } else if (state?.status === 'failed') {
    run.status = 'failed';
    run.error = state.error;
  } else {
    const lockFile = path.join(dir, RUN_FILES.lock);
    if (fs.existsSync(lockFile)) {
      try {
        run.running = !staleReason(readLock(lockFile), fs.statSync(lockFile).mtimeMs);
      } catch {
        /* lock released meanwhile */
      }
    }
  }
  return run;
}

/** A metric from result.json: a top-level number, else the first number under that key anywhere (breadth first). */
function findNumber(obj: Record<string, unknown>, key: string): number | undefined {
  const queue: unknown[] = [obj];
  while (queue.length) {
    const o = queue.shift();
    if (!o || typeof o !== 'object' || Array.isArray(o)) continue;
    const rec = o as Record<string, unknown>;
    if (typeof rec[key] === 'number' && Number.isFinite(rec[key])) return rec[key] as number;
    for (const v of Object.values(rec)) if (v && typeof v === 'object' && !Array.isArray(v)) queue.push(v);
  }
  return undefined;
}

/** lib/util/stats meanStd as a sweep reports it: undefined for no runs, std null for one. */
export function meanStd(values: number[]): MeanStd | undefined {
  if (values.length === 0) return undefined;
  const s = sampleMeanStd(values);
  return { ...s, std: s.n > 1 ? s.std : null };
}

/** Groups runs by config minus `over` (the seed), in first-appearance order; statistics over done runs. */
export function groupRuns(runs: SweepRun[], over: readonly string[] = ['seed']): SweepGroup[] {
  return [...groupBy(runs, (r) => canonicalJson(settingOf(r.config, over))).values()].map((members) => {
    const done = members.filter((r) => r.status === 'done');
    const g: SweepGroup = {
      setting: settingOf(members[0].config, over), ids: members.map((r) => r.id),
      seeds: members.flatMap((r) => (r.config.seed !== undefined ? [r.config.seed] : [])), n: members.length, nDone: done.length, metrics: {},
    };
    for (const m of METRICS) {
      const s = meanStd(done.map((r) => r[m]).filter((v): v is number => v !== undefined));
      if (s) g.metrics[m] = s;
    }
    return g;
  });
}

/** A metric as the printed tables show it, under its column: the selected epoch counted from 1, as `ltl train` and
 * `ltl diagnose` print it (result.json, the JSON and the CSV keep the 0-based index). */
function tableColumn(m: Metric): { name: string; value: (v: number) => number } {
  if (m === 'selectedEpoch') return { name: 'selected epoch', value: (v) => v + 1 };
  return { name: m, value: (v) => v };
}

/** One row per run: id, status, attempts, the varying config keys, the metrics (for printing). */
export function runTableRows(sweep: Sweep): Record<string, unknown>[] {
  return sweep.runs.map((r) => {
    const row: Record<string, unknown> = { id: r.id, status: r.running ? 'running' : r.status, attempts: r.attempts };
    for (const k of sweep.varying) row[k] = r.config[k];
    for (const m of METRICS) {
      const col = tableColumn(m);
      row[col.name] = r[m] === undefined ? undefined : m === 'imagesPerSecond' ? Math.round(r[m]!) : col.value(r[m]!);
    }
    return row;
  });
}

/** One row per setting: the varying config keys except the seed, runs done/total, mean ± std over the done runs. */
export function groupTableRows(sweep: Sweep): Record<string, unknown>[] {
  const keys = sweep.varying.filter((k) => k !== 'seed');
  const byId = new Map(sweep.runs.map((r) => [r.id, r]));
  return sweep.groups.map((g) => {
    const row: Record<string, unknown> = {};
    for (const k of keys) row[k] = g.setting[k];
    row.runs = `${g.nDone}/${g.n}`;
    const done = g.ids.map((id) => byId.get(id)!).filter((r) => r.status === 'done');
    for (const m of METRICS) {
      const digits = m === 'imagesPerSecond' ? 0 : m === 'selectedEpoch' ? 1 : 4;
      const col = tableColumn(m);
      row[col.name] = formatMeanStd(done.map((r) => r[m]).filter((v): v is number => v !== undefined).map(col.value), { digits });
    }
    return row;
  });
}

/** All runs as CSV: id, status, attempts, every config key, the metrics, the error. */
export function sweepCsv(sweep: Sweep): string {
  const keys = [...new Set(sweep.runs.flatMap((r) => Object.keys(r.config)))];
  const header = ['id', 'status', 'attempts', ...keys, ...METRICS, 'error'];
  const lines = [header.map(csvCell).join(',')];
  for (const r of sweep.runs) {
    lines.push([r.id, r.status, r.attempts, ...keys.map((k) => r.config[k]), ...METRICS.map((m) => r[m]), r.error].map(csvCell).join(','));
  }
  return lines.join('\n') + '\n';
}

function csvCell(v: unknown): string {
  if (v === undefined || v === null) return '';
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The sweep as the CLI's --json prints it: runs without their full result.json, and the groups. */
export function sweepJson(sweep: Sweep): { runs: Omit<SweepRun, 'result'>[]; groups: SweepGroup[] } {
  return { runs: sweep.runs.map(({ result: _r, ...rest }) => rest), groups: sweep.groups };
}
