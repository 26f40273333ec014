/**
 * Aggregation over seeds: the one implementation behind every table of the project (sweep reports, the
 * results table of docs/results.md, the notebooks' tables, the CLI). Rows are grouped by their setting
 * (`groupBy`), and each group's metric is reported as mean ± sample standard deviation (`meanStd`,
 * `formatMeanStd`), as docs/method.md section 8 states.
 *
 * Why this is hand-written and not danfojs: danfojs-node 1.2.0 was a dependency for exactly this and was
 * removed after measuring it (2026-12-01). Its `groupby([...]).agg({ m: ['mean', 'std'] })` gives the same
 * numbers (sample std, 0 for one value), but:
 *  - requiring it took 1.5-2.6 s and ~115 MB of memory on the project's 2-core machine, to average a few
 *    numbers per row;
 *  - it depends on @tensorflow/tfjs-node 3 (a native libtensorflow download at install time, impossible
 *    offline) and on xlsx as a tarball from a CDN outside the npm registry; it installed only through
 *    package.json overrides that aliased tfjs-node to plain tfjs 4 (a major version danfojs was not built
 *    for) and pinned npm's last xlsx release;
 *  - it throws on a missing value ("Cannot calculate std, unexpected type of argument (type: null)"), so a
 *    sweep with pending or failed runs had to be filtered and keyed by hand before it anyway, and its own
 *    printout is a text-only box with truncated numbers, so tables still needed our renderer
 *    (lib/report/table.ts).
 * The functions below do the same without a dependency.
 */

/** Mean, sample standard deviation and count of a list of values. */
export interface MeanStd {
  mean: number;
  /** Sample standard deviation (n - 1); 0 for one value. */
  std: number;
  n: number;
}

/** Mean and sample standard deviation (n - 1) of a list: std 0 for one value, NaN for none. */
export function meanStd(values: readonly number[]): MeanStd {
  const n = values.length;
  if (n === 0) return { mean: NaN, std: NaN, n };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const std = n > 1 ? Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, std, n };
}

/**
 * "64.88 ± 1.20", or just the mean for one value ('' for none): the one way every table writes mean ± std.
 * `percent` shows fractions in %; `digits` decimal places (default 2).
 */
export function formatMeanStd(values: readonly number[], opts: { percent?: boolean; digits?: number } = {}): string {
  const { mean, std, n } = meanStd(values);
  const k = opts.percent ? 100 : 1;
  const d = opts.digits ?? 2;
  if (n === 0) return '';
  return n > 1 ? `${(mean * k).toFixed(d)} ± ${(std * k).toFixed(d)}` : (mean * k).toFixed(d);
}

/** Items grouped by a key (e.g. the canonical JSON of a run's setting), groups and members in first-appearance order. */
export function groupBy<T>(items: Iterable<T>, key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const g = groups.get(k);
    if (g) g.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}
