import type { ShortcutDataset, ImageSplit } from '../data/types';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runTraining, resolveConfig, selectionSummary, TrainingDiverged, type EpochRecord, type TrainConfig, type TrainResult } from '../train';
import type { Profile } from './profiles';
import { progress } from './progress';
import { runFolder } from './cache';
import { formatMeanStd } from './table';
import { PUBLISHED_RESULTS } from './paper';
import { PLOT_COLORS, barFigure, lineFigure, type Figure, type Series } from './plotly';
import { attentionMaps } from './cams';
import { batchMap, showImageGrid, splitImage, type GridTile } from './image-grid';
import { meanStd } from '../util/stats';
import { readCheckpoint } from '../train/checkpoint';

/** One training run of a notebook: a label for plots and tables, and the (partial) config. */
export interface RunSpec {
  label: string;
  config: Partial<TrainConfig>;
}
export interface FinishedRun {
  label: string;
  config: TrainConfig;
  dir: string;
  /** For a diverged run: its completed epochs, the epoch selected among them. */
  result: TrainResult;
  /** Set when training diverged (non-finite loss): the trainer's message. */
  diverged?: string;
}

/**
 * The config a notebook trains with for a dataset and method under a profile. Every notebook builds
 * its configs here, so the same run (e.g. notebook 01's vanilla nets and notebook 04's) has the same
 * config, hence the same cache folder, and is trained once.
 */
export function profileConfig(profile: Profile, dataset: string, method: TrainConfig['method'], seed = profile.seeds[0], overrides: Partial<TrainConfig> = {}): Partial<TrainConfig> {
  return {
    // RRR penalises from the first epoch (Ross et al.); the two-phase schedule is the paper's alignment recipe.
    dataset, method, seed, epochs: profile.epochs, attentionEpoch: method === 'rrr' ? 0 : profile.attentionEpoch,
    limit: profile.trainImages, evalLimit: profile.evalImages, ...overrides,
  };
}

/** Trains (or reuses: the run folder is named by the config) one run, with a progress line. */
export async function trainCached(spec: RunSpec, dataset?: ShortcutDataset): Promise<FinishedRun> {
  const config = resolveConfig(spec.config);
  const dir = runFolder('train', config);
  const bar = progress(`${spec.label} (${config.dataset}, seed ${config.seed})`, { minIntervalMs: 1000 });
  try {
    const result = await runTraining(config, {
      outDir: dir, dataset,
      onBatch: (done, total, epoch) => bar.update(epoch * total + done, total * config.epochs, `epoch ${epoch + 1}/${config.epochs}`),
    });
    bar.done(`test acc at the validation-selected epoch ${(100 * result.testAccSelected).toFixed(1)} %`);
    return { label: spec.label, config, dir, result };
  } catch (e) {
    // A diverged run is a result (this setting is unstable), not a broken notebook: report it with
    // the epochs it completed. Anything else is an error.
    if (!(e instanceof TrainingDiverged)) throw e;
    const partial = partialResult(config, dir);
    if (!partial) throw e;
    const msg = e.message;
    bar.done(`DIVERGED after ${partial.epochs.length} epoch(s): ${msg.split(';')[0]}`);
    return { label: spec.label, config, dir, result: partial, diverged: msg };
  }
}

/**
 * The completed epochs of a run folder as a result (selection among them, on validation), read from
 * its checkpoint (checksummed; epochs.jsonl is a log for people, never read back).
 */
export function partialResult(config: TrainConfig, dir: string): TrainResult | undefined {
  const file = path.join(dir, 'checkpoint.bin');
  if (!fs.existsSync(file)) return undefined;
  const epochs = readCheckpoint<EpochRecord>(file).meta.history;
  if (epochs.length === 0) return undefined;
  return {
    config, ...selectionSummary(epochs, config.select), epochs,
    imagesPerSecond: epochs.reduce((a, e) => a + e.imagesPerSecond, 0) / epochs.length,
    trainSeconds: epochs.reduce((a, e) => a + e.seconds, 0),
  } as TrainResult;
}

/** Trains runs one after the other (two cores: never in parallel). */
export async function trainAll(specs: readonly RunSpec[], datasets: Record<string, ShortcutDataset> = {}): Promise<FinishedRun[]> {
  const out: FinishedRun[] = [];
  for (const s of specs) out.push(await trainCached(s, s.config.dataset ? datasets[s.config.dataset] : undefined));
  return out;
}

/** Mean +- std over seeds of each (dataset, label) group: the results table. */
export function resultRows(runs: readonly FinishedRun[]): Record<string, string | number>[] {
  const groups = new Map<string, FinishedRun[]>();
  for (const r of runs) {
    const k = `${r.config.dataset}\u0000${r.label}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  return [...groups.values()].map((g) => ({
    dataset: g[0].config.dataset,
    method: g[0].label + (g.some((r) => r.diverged) ? ` (diverged in ${g.filter((r) => r.diverged).length} of ${g.length} seed(s); completed epochs only)` : ''),
    seeds: g.length,
    'val acc % (selected epoch)': formatMeanStd(g.map((r) => r.result.valAccSelected), { percent: true, digits: 1 }),
    'test acc % (selected epoch)': formatMeanStd(g.map((r) => r.result.testAccSelected), { percent: true, digits: 1 }),
    'test acc % (last epoch)': formatMeanStd(g.map((r) => r.result.testAccFinal), { percent: true, digits: 1 }),
    'selected epoch': g.map((r) => r.result.selectedEpoch + 1).join(', '),
    'train images/s': Math.round(meanStd(g.map((r) => r.result.imagesPerSecond)).mean),
    // Maps that are empty after the target chain (threshold) give no attention signal: worth seeing.
    'empty target maps': g[0].result.targets ? `${g[0].result.targets.empty} of ${g[0].result.trainImages}` : '',
  }));
}

/** Our test accuracies (validation-selected epoch, mean +- std over seeds) next to the published ones. */
export function comparisonRows(runs: readonly FinishedRun[], methodOf: Record<string, string>): Record<string, string>[] {
  const ours = (paperMethod: string, ds: string) => {
    const label = Object.keys(methodOf).find((l) => methodOf[l] === paperMethod);
    const g = runs.filter((r) => r.label === label && r.config.dataset === ds);
    if (!g.length) return 'not run';
    return formatMeanStd(g.map((r) => r.result.testAccSelected), { percent: true, digits: 1 }) + (g.some((r) => r.diverged) ? ' (diverged)' : '');
  };
  return PUBLISHED_RESULTS.map((p) => ({
    method: p.method,
    'ColorMNIST: paper': p.colormnist,
    'ColorMNIST: ours': ours(p.method, 'colormnist'),
    'DecoyMNIST: paper': p.decoymnist,
    'DecoyMNIST: ours': ours(p.method, 'decoymnist'),
    annotation: p.annotation,
  }));
}

/** Validation (solid) and test (dashed) accuracy per epoch of each run on one dataset (first seed). */
export function accuracyCurves(runs: readonly FinishedRun[], dataset: string): Figure {
  const series: Series[] = [];
  const seen = new Set<string>();
  for (const r of runs.filter((x) => x.config.dataset === dataset)) {
    if (seen.has(r.label)) continue;
    seen.add(r.label);
    const x = r.result.epochs.map((e) => e.epoch + 1);
    const color = PLOT_COLORS[(seen.size - 1) % PLOT_COLORS.length];
    series.push({ name: `${r.label}: validation`, x, y: r.result.epochs.map((e) => 100 * e.valAcc), color });
    series.push({ name: `${r.label}: test`, x, y: r.result.epochs.map((e) => 100 * e.testAcc), dash: 'dash', color });
  }
  return lineFigure(series, { title: `${dataset}: accuracy per epoch (solid: validation, dashed: test)`, xTitle: 'epoch', yTitle: 'accuracy (%)', yRange: [0, 100] });
}

/** Images of a split with the CAMs of the untrained net and of each run, one row each. */
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

/** One point of an ablation: which factor is varied, to which value, all else at the defaults. */
export interface AblationSpec extends RunSpec {
  factor: 'lambda' | 'attention epoch' | 'attention method' | 'map source' | 'prompt';
  value: string;
}

/**
 * The ablation runs of a profile: one factor at a time around the defaults (align, CAM, lambda0,
 * attention epoch, embedded-VLM maps of the chosen prompt). `promptMaps` are map files of other
 * prompts (label -> file). Runs equal to the default point share its cache folder.
 */
export function ablationSpecs(profile: Profile, embeddedMaps: string, promptMaps: readonly { label: string; file: string }[], seed = profile.ablation.seeds[0]): AblationSpec[] {
  const a = profile.ablation;
  const base: Partial<TrainConfig> = {
    dataset: a.dataset, method: 'align', attention: 'cam', seed, epochs: a.epochs, attentionEpoch: a.attentionEpoch,
    lambda: a.lambda, limit: a.trainImages, evalLimit: profile.evalImages, maps: embeddedMaps,
  };
  const withDefault = (vals: readonly number[], d: number) => [...new Set([...vals, d])].sort((x, y) => x - y);
  const specs: AblationSpec[] = [];
  const add = (factor: AblationSpec['factor'], value: string, o: Partial<TrainConfig>) =>
    specs.push({ factor, value, label: `${factor} = ${value}`, config: { ...base, ...o } });
  for (const l of withDefault(a.lambdas, a.lambda)) add('lambda', String(l), { lambda: l });
  for (const e of withDefault(a.attentionEpochs, a.attentionEpoch).filter((e) => e < a.epochs)) add('attention epoch', String(e), { attentionEpoch: e });
  for (const m of a.methods) add('attention method', m, { attention: m as TrainConfig['attention'] });
  for (const s of a.mapSources) add('map source', s, { maps: s === 'embedded' ? embeddedMaps : s });
  for (const p of promptMaps) add('prompt', p.label, { maps: p.file });
  return specs;
}

export interface AblationRun extends FinishedRun {
  factor: AblationSpec['factor'];
  value: string;
}

export async function trainAblations(specs: readonly AblationSpec[], dataset?: ShortcutDataset): Promise<AblationRun[]> {
  const out: AblationRun[] = [];
  for (const s of specs) out.push({ ...(await trainCached(s, dataset)), factor: s.factor, value: s.value });
  return out;
}

export function ablationRows(runs: readonly AblationRun[]): Record<string, string | number>[] {
  return runs.map((r) => ({
    factor: r.factor, value: r.value + (r.diverged ? ` (diverged after ${r.result.epochs.length} epochs)` : ''),
    'val acc % (selected)': 100 * r.result.valAccSelected,
    'test acc % (selected epoch)': 100 * r.result.testAccSelected,
    'test acc % (last epoch)': 100 * r.result.testAccFinal,
    'selected epoch': r.result.selectedEpoch + 1,
    'empty target maps': r.result.targets ? r.result.targets.empty : '',
  }));
}

/** One grouped bar chart per factor: validation and test accuracy for each value. */
export function ablationFigures(runs: readonly AblationRun[]): Figure[] {
  const factors = [...new Set(runs.map((r) => r.factor))];
  return factors.map((f) => {
    const rs = runs.filter((r) => r.factor === f);
    return barFigure(rs.map((r) => r.value), [
      { name: 'validation (selected epoch)', y: rs.map((r) => 100 * r.result.valAccSelected) },
      { name: 'test (selected epoch)', y: rs.map((r) => 100 * r.result.testAccSelected) },
    ], { title: `Ablation: ${f} (${rs[0].config.dataset})`, xTitle: f, yTitle: 'accuracy (%)', yRange: [0, 100] });
  });
}
