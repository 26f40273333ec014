import type { ImageSplit } from '../data/types';
import { selectEpoch, type EpochRecord } from '../train';
import { PLOT_COLORS, barFigure, lineFigure, type Figure, type Series } from '../report/plotly';
import { batchMap, showImageGrid, splitImage, type GridTile } from '../report/image-grid';
import { attentionMaps } from '../evaluate/cams';
import { gradientMap, inputGradients, runWeightsEpoch } from '../evaluate/saliency';
import { UserError } from '../util/errors';
import { meanStd } from '../util/stats';
import { distinctRuns } from './runs';
import type { AblationRun, AblationSpec, FinishedRun } from './run-types';

/** The notebooks' figures of finished runs: curves per epoch, where the nets look, ablations, selection rules. */

/** Per-epoch lines of each run on one dataset (first seed). */
function perEpochFigure(runs: readonly FinishedRun[], dataset: string, lines: readonly { name: string; y: (e: EpochRecord) => number | null; dash?: 'dash' | 'dot' }[], opts: { title: string; yTitle: string }): Figure {
  const series: Series[] = [];
  const seen = new Set<string>();
  for (const r of runs.filter((x) => x.config.dataset === dataset)) {
    if (seen.has(r.label)) continue;
    seen.add(r.label);
    const x = r.result.epochs.map((e) => e.epoch + 1);
    const color = PLOT_COLORS[(seen.size - 1) % PLOT_COLORS.length];
    for (const l of lines) {
      const y = r.result.epochs.map((e) => { const v = l.y(e); return v === null ? NaN : 100 * v; });
      if (y.every((v) => Number.isNaN(v))) continue;
      series.push({ name: `${r.label}${l.name ? ': ' + l.name : ''}`, x, y, color, ...(l.dash ? { dash: l.dash } : {}) });
    }
  }
  return lineFigure(series, { title: opts.title, xTitle: 'epoch', yTitle: opts.yTitle, yRange: [0, 100] });
}

/** Validation (solid) and test (dashed) accuracy per epoch of each run on one dataset (first seed). */
export function accuracyCurves(runs: readonly FinishedRun[], dataset: string): Figure {
  return perEpochFigure(runs, dataset, [{ name: 'validation', y: (e) => e.valAcc }, { name: 'test', y: (e) => e.testAcc, dash: 'dash' }],
    { title: `${dataset}: accuracy per epoch (solid: validation, dashed: test)`, yTitle: 'accuracy (%)' });
}

/** The validation excluded share per epoch of each run on one dataset (runs that name prompts; first seed). */
export function excludedShareCurves(runs: readonly FinishedRun[], dataset: string): Figure {
  return perEpochFigure(runs, dataset, [{ name: '', y: (e) => (typeof e.valExcludedShare === 'number' ? e.valExcludedShare : null) }],
    { title: `${dataset}: validation excluded share per epoch`, yTitle: 'excluded share of input-gradient energy (%)' });
}

/** Images of a split with the CAMs of the untrained net and of each run (its validation-selected epoch), one row each. */
export async function showCams(split: ImageSplit, indices: number[], runs: readonly FinishedRun[], caption: string, method = 'cam'): Promise<void> {
  if (runs.length === 0) return;
  const base = runs[0].config;
  const rows: GridTile[][] = [indices.map((i) => ({ image: splitImage(split, i) }))];
  const labels = ['image'];
  const before = attentionMaps(base, 'initial', split, indices, method);
  rows.push(indices.map((i, k) => ({ image: splitImage(split, i), map: batchMap(before, k) })));
  labels.push('before training');
  for (const r of runs) {
    const m = attentionMaps(r.config, { runDir: r.dir }, split, indices, method);
    rows.push(indices.map((i, k) => ({ image: splitImage(split, i), map: batchMap(m, k) })));
    labels.push(`after: ${r.label}`);
  }
  await showImageGrid(rows, { scale: 3, rowLabels: labels, caption });
}

/** Min-max normalised copy (the grids below colour maps themselves, normalize off). */
function minMax(d: ArrayLike<number>): Float32Array {
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < d.length; i++) { lo = Math.min(lo, d[i]); hi = Math.max(hi, d[i]); }
  const out = new Float32Array(d.length);
  for (let i = 0; i < d.length; i++) out[i] = hi > lo ? (d[i] - lo) / (hi - lo) : 0;
  return out;
}

/**
 * Where each net looks, at its validation-selected epoch: for each run two rows over the same images, its CAM for
 * the true class (what the paper aligns) and its input-gradient magnitude |g| at the input's resolution (what RRR
 * constrains; lib/evaluate/saliency.ts); on a colour dataset a third row, the part of |g| off the grey axis (reacting
 * to hue), on the same scale as the row above it. Each tile is scaled to its own maximum.
 */
export async function showLooks(split: ImageSplit, indices: number[], runs: readonly FinishedRun[], caption: string): Promise<void> {
  if (runs.length === 0) return;
  const rows: GridTile[][] = [indices.map((i) => ({ image: splitImage(split, i) }))];
  const labels = ['image'];
  const colour = split.channels === 3 && !split.shortcutMasks;
  for (const r of runs) {
    const epoch = runWeightsEpoch(r.dir);
    const cam = attentionMaps(r.config, { runDir: r.dir }, split, indices, 'cam');
    rows.push(indices.map((i, k) => { const m = batchMap(cam, k); return { image: splitImage(split, i), map: { ...m, data: minMax(m.data) } }; }));
    labels.push(`${r.label} (epoch ${epoch + 1}): CAM`);
    const g = inputGradients(r.config, { runDir: r.dir }, split, indices);
    const mag = indices.map((_, k) => gradientMap(g, k).data.map(Math.sqrt));
    const scale = mag.map((m) => Math.max(1e-30, ...m));
    rows.push(indices.map((i, k) => ({ image: splitImage(split, i), map: { data: mag[k].map((v) => v / scale[k]), width: g.size, height: g.size } })));
    labels.push(`${r.label}: input gradient`);
    if (colour) {
      rows.push(indices.map((i, k) => ({ image: splitImage(split, i), map: { data: gradientMap(g, k, 'offGrey').data.map((v) => Math.sqrt(v) / scale[k]), width: g.size, height: g.size } })));
      labels.push(`${r.label}: ... off the grey axis`);
    }
  }
  await showImageGrid(rows, { scale: 3, rowLabels: labels, caption, normalize: false });
}

/** One grouped bar chart per factor: validation and test accuracy and the test shortcut share for each value. */
export function ablationFigures(runs: readonly AblationRun[]): Figure[] {
  return [...new Set(runs.map((r) => r.factor))].map((f) => ablationFigure(runs, f));
}

/** The bar chart of one factor (ablationFigures): one bar group per value, the mean over its seeds (error bars: std). */
export function ablationFigure(runs: readonly AblationRun[], factor: AblationSpec['factor']): Figure {
  const rs = runs.filter((r) => r.factor === factor);
  if (rs.length === 0) throw new UserError(`no ablation runs of factor '${factor}'`);
  const values = [...new Set(rs.map((r) => r.value))];
  const byValue = values.map((v) => rs.filter((r) => r.value === v));
  const seeds = new Set(rs.map((r) => r.config.seed));
  const series = (name: string, f: (r: AblationRun) => number) => {
    const stats = byValue.map((g) => meanStd(g.map(f)));
    return { name, y: stats.map((s) => s.mean), ...(seeds.size > 1 ? { error: stats.map((s) => s.std) } : {}) };
  };
  const over = seeds.size > 1 ? `, mean ± std over seeds ${[...seeds].join(', ')}` : `, seed ${[...seeds][0]}`;
  return barFigure(values, [
    series('validation acc (selected epoch)', (r) => 100 * r.result.valAccSelected),
    series('test acc (selected epoch)', (r) => 100 * r.result.testAccSelected),
    series('test: input-gradient energy on the shortcut', (r) => (r.looks ? 100 * r.looks.shortcut : NaN)),
  ], { title: `Ablation: ${factor} (${rs[0].config.dataset}${over})`, xTitle: factor, yTitle: '%', yRange: [0, 100] });
}

/** Test accuracy at the epoch each rule picks, per run (distinct runs). */
export function selectionFigure(runs: readonly FinishedRun[]): Figure {
  const rs = distinctRuns(runs);
  const at = (r: FinishedRun, rule: 'val-acc' | 'val-rr') => 100 * r.result.epochs[selectEpoch(r.result.epochs, rule)].testAcc;
  // short bar labels: an ablation run's value (its factor's name when the value alone is a number), the dataset when not the first run's
  const seeds = new Set(rs.map((r) => r.config.seed));
  const name = (r: FinishedRun & { factor?: string; value?: string }) => {
    const v = r.value === undefined ? r.label : /^\d/.test(r.value) ? `${r.factor} ${r.value}` : r.value;
    const where = [...(r.config.dataset === rs[0].config.dataset ? [] : [r.config.dataset]), ...(seeds.size > 1 ? [`seed ${r.config.seed}`] : [])];
    return where.length ? `${v} (${where.join(', ')})` : v;
  };
  return barFigure(rs.map(name), [
    { name: 'test acc at the val-acc pick', y: rs.map((r) => at(r, 'val-acc')) },
    { name: 'test acc at the val-rr pick', y: rs.map((r) => at(r, 'val-rr')) },
  ], { title: 'Test accuracy at the epoch each selection rule picks', xTitle: 'run', yTitle: 'test accuracy (%)', yRange: [0, 100] });
}
