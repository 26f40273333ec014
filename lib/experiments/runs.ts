import type { ShortcutDataset, ImageSplit } from '../data/types';
import { runTraining, resolveConfig, selectionSummary, selectEpoch, TrainingDiverged, type EpochRecord, type TrainConfig, type TrainResult } from '../train';
import { rightReasonsScore } from '../train/trainer';
import { loadDataset } from '../data';
import { getShortcut, resolveDataset } from '../data/registry';
import type { Profile } from './profiles';
import { progress } from '../report/progress';
import { runFolder } from './cache';
import { dataCacheDir } from '../report/paths';
import { formatMeanStd } from '../report/table';
import { PUBLISHED_RESULTS } from './published-results';
import { PLOT_COLORS, barFigure, lineFigure, type Figure, type Series } from '../report/plotly';
import { attentionMaps } from '../evaluate/cams';
import { batchMap, showImageGrid, splitImage, type GridTile } from '../report/image-grid';
import { gradientMap, gradientShares, inputGradients, runWeightsEpoch, shortcutShare, shortcutShareLabel } from '../evaluate/saliency';
import { meanStd } from '../util/stats';
import { readRunEpochs } from '../train/run-folder';
import { settingsLabel } from '../report/results-table';
import { UserError } from '../util/errors';
import { createGenerator } from '../maps/registry';
import { mapQuality } from '../evaluate/map-quality';
import { MEASURE_MASKS, promptRegions } from '../train/prompt-constraint';

/** One training run of a notebook: a label for plots and tables, and the (partial) config. */
export interface RunSpec {
  label: string;
  config: Partial<TrainConfig>;
}

/** Where a finished net's input gradients are on test images (its validation-selected epoch; lib/evaluate/saliency.ts). */
export interface RunLooks {
  /** The epoch (0-based) whose weights were measured. */
  epoch: number;
  images: number;
  /** Share of input-gradient energy on the shortcut: its pixels (decoy), or off the grey axis (colour). */
  shortcut: number;
  /** What `shortcut` measures, in words. */
  shortcutIs: string;
  /** Share on the digit (mask dilated by 2 px). */
  digit: number;
}

export interface FinishedRun {
  label: string;
  config: TrainConfig;
  dir: string;
  /** For a diverged run: its completed epochs, the epoch selected among them. */
  result: TrainResult;
  /** Set when training diverged (non-finite loss): the trainer's message. */
  diverged?: string;
  /** Input-gradient shares on test images (set by trainAll / trainAblations). */
  looks?: RunLooks;
}

/**
 * The config a notebook trains with for a dataset and method under a profile. Every notebook builds
 * its configs here, so the same run in two notebooks has the same config, hence the same cache folder,
 * and is trained once (notebook 04's runs add the measuring prompts, so its vanilla nets are not notebook 01's).
 */
export function profileConfig(profile: Profile, dataset: string, method: TrainConfig['method'], seed = profile.seeds[0], overrides: Partial<TrainConfig> = {}): Partial<TrainConfig> {
  return {
    // RRR penalises from the first epoch (Ross et al.); the two-phase schedule is the paper's alignment recipe.
    dataset, method, seed, epochs: profile.epochs, attentionEpoch: method === 'rrr' ? 0 : profile.attentionEpoch,
    limit: profile.trainImages, evalLimit: profile.evalImages, ...overrides,
  };
}

/** Loads datasets by name (the shared dataset cache), as a record by name. */
export function loadDatasets(names: readonly string[]): Record<string, ShortcutDataset> {
  return Object.fromEntries([...new Set(names)].map((n) => [n, loadDataset(n, { cacheDir: dataCacheDir() })]));
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
 * its checkpoint (checksummed; the epochs.jsonl log is for people, never read back).
 */
export function partialResult(config: TrainConfig, dir: string): TrainResult | undefined {
  const epochs = readRunEpochs(dir);
  if (!epochs?.length) return undefined;
  return {
    config, ...selectionSummary(epochs, config.select), epochs,
    imagesPerSecond: epochs.reduce((a, e) => a + e.imagesPerSecond, 0) / epochs.length,
    trainSeconds: epochs.reduce((a, e) => a + e.seconds, 0),
  } as TrainResult;
}

/** Test images measured for RunLooks: the first N (at most the run's evaluated test images). */
export const LOOK_IMAGES = 500;

/** Measures where a finished run's net looks on test images (input gradients of its validation-selected epoch). */
export function measureLooks(run: FinishedRun, ds: ShortcutDataset, images = LOOK_IMAGES): RunLooks {
  const n = Math.min(images, run.config.evalLimit ?? images, ds.test.count);
  const idx = Array.from({ length: n }, (_, i) => i);
  const g = inputGradients(run.config, { runDir: run.dir }, ds.test, idx);
  const s = gradientShares(g, ds.test, idx);
  return { epoch: runWeightsEpoch(run.dir), images: n, shortcut: shortcutShare(s), shortcutIs: shortcutShareLabel(ds.test), digit: s.onDigit };
}

/** Trains runs one after the other (two cores: never in parallel), then measures where each net looks on test images. */
export async function trainAll(specs: readonly RunSpec[], datasets: Record<string, ShortcutDataset> = {}): Promise<FinishedRun[]> {
  const out: FinishedRun[] = [];
  for (const s of specs) {
    const name = s.config.dataset ?? resolveConfig(s.config).dataset;
    const ds = (datasets[name] ??= loadDataset(name, { cacheDir: dataCacheDir() }));
    const run = await trainCached(s, ds);
    run.looks = measureLooks(run, ds);
    out.push(run);
  }
  return out;
}

/** The prompt every notebook run measures on validation (and the prompt-guided runs train with). */
export const DIGIT_PROMPT = 'a digit';
/** The attribute prompt of colour datasets. */
export const COLOUR_ATTRIBUTE_PROMPT = 'colour of a digit';

/** Whether a dataset's shortcut is a colour (no pixels of its own) rather than a patch or frame. */
export function isColourShortcut(dataset: string): boolean {
  try {
    return !getShortcut(resolveDataset(dataset).shortcut).spatial;
  } catch {
    return /colou?r/i.test(dataset);
  }
}

/**
 * The prompts a run names so that it records the validation excluded share (EpochRecord.valExcludedShare), and the
 * rule that selects its epoch: "a digit", plus the attribute "colour of a digit" on a colour dataset; val-rr. As in
 * the full-length study (scripts/results-study.ts): one rule for every method, baselines included.
 */
export function measuringPrompts(dataset: string): Partial<TrainConfig> {
  return { prompt: DIGIT_PROMPT, ...(isColourShortcut(dataset) ? { attributePrompt: COLOUR_ATTRIBUTE_PROMPT } : {}), select: 'val-rr' };
}

/** RRR's weight with the annotation: Ross et al.'s 1000 for a mask; 10 for the colour mode (1000 diverges on
 * ColorMNIST, 10 moved it most towards shape in docs/findings.md section 2). */
export function annotationLambda(dataset: string): number {
  return isColourShortcut(dataset) ? 10 : 1000;
}

/** The labels of notebook 04's four methods. */
export const METHOD_LABELS = {
  vanilla: 'vanilla',
  align: "align (the paper's method)",
  annotation: 'RRR with the annotation',
  prompt: 'prompt-guided RRR',
} as const;

/**
 * Notebook 04's runs of one dataset and seed: vanilla; the paper's alignment to the embedded VLM's maps of
 * "a digit"; RRR with the annotation (the decoy's mask, or the colour mode); prompt-guided RRR (embedded maps of
 * "a digit": input gradients off the digit penalised; on a colour dataset also the attribute prompt "colour of a
 * digit"). Every run measures the same prompts on validation and selects its epoch by val-rr.
 */
export function methodRunSpecs(profile: Profile, dataset: string, seed = profile.seeds[0]): RunSpec[] {
  const m = measuringPrompts(dataset);
  const colour = isColourShortcut(dataset);
  return [
    { label: METHOD_LABELS.vanilla, config: profileConfig(profile, dataset, 'vanilla', seed, m) },
    { label: METHOD_LABELS.align, config: profileConfig(profile, dataset, 'align', seed, { ...m, maps: 'embedded' }) },
    { label: METHOD_LABELS.annotation, config: profileConfig(profile, dataset, 'rrr', seed, { ...m, rrrMode: colour ? 'colour' : 'spatial', lambda: annotationLambda(dataset) }) },
    { label: METHOD_LABELS.prompt, config: profileConfig(profile, dataset, 'rrr', seed, { ...m, rrrMode: 'prompt', maps: 'embedded' }) },
  ];
}

/** methodRunSpecs for every dataset and seed of a profile (datasets outer, seeds inner). */
export function methodSpecs(profile: Profile, datasets: readonly string[] = profile.datasets, seeds: readonly number[] = profile.seeds): RunSpec[] {
  return datasets.flatMap((d) => seeds.flatMap((seed) => methodRunSpecs(profile, d, seed)));
}

/** Mean +- std over seeds of each (dataset, label) group: the results table. */
export function resultRows(runs: readonly FinishedRun[]): Record<string, string | number>[] {
  const groups = new Map<string, FinishedRun[]>();
  for (const r of runs) {
    const k = `${r.config.dataset}\u0000${r.label}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  const pct = (v: readonly number[]) => formatMeanStd(v, { percent: true, digits: 1 });
  return [...groups.values()].map((g) => {
    const shares = g.map((r) => r.result.valExcludedShareSelected).filter((v): v is number => typeof v === 'number');
    const looks = g.map((r) => r.looks).filter((v): v is RunLooks => !!v);
    return {
      dataset: g[0].config.dataset,
      method: g[0].label + (g.some((r) => r.diverged) ? ` (diverged in ${g.filter((r) => r.diverged).length} of ${g.length} seed(s); completed epochs only)` : ''),
      seeds: g.length,
      'selected by': g[0].result.selectBy ?? g[0].config.select,
      'selected epoch': g.map((r) => r.result.selectedEpoch + 1).join(', '),
      'val acc % (selected epoch)': pct(g.map((r) => r.result.valAccSelected)),
      // the validation right-reasons measure: share of input-gradient energy where the prompts say the evidence is not
      'val excluded share % (selected epoch)': shares.length === g.length ? pct(shares) : '',
      'test acc % (selected epoch)': pct(g.map((r) => r.result.testAccSelected)),
      'test acc % (last epoch)': pct(g.map((r) => r.result.testAccFinal)),
      // measured on test images with the data builder's masks, for the reader only (never selects anything)
      'test: input-gradient energy on the shortcut %': looks.length === g.length ? pct(looks.map((l) => l.shortcut)) : '',
      'train images/s': Math.round(meanStd(g.map((r) => r.result.imagesPerSecond)).mean),
      // Maps that are empty after the target chain (threshold) give no attention signal: worth seeing.
      'empty target maps': g[0].result.targets ? `${g[0].result.targets.empty} of ${g[0].result.trainImages}` : '',
    };
  });
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

/** Notebook 04's methods against the paper's rows of docs/method.md section 9. */
export const PAPER_METHOD_OF: Record<string, string> = {
  [METHOD_LABELS.vanilla]: 'Vanilla (no penalty)',
  [METHOD_LABELS.annotation]: 'RRR (input-gradient penalty)',
  [METHOD_LABELS.align]: 'Learning to Look (paper)',
};

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

/** Where each net looks on test images, in numbers (RunLooks): one row per run. */
export function lookRows(runs: readonly FinishedRun[]): Record<string, string | number>[] {
  return runs.filter((r) => r.looks).map((r) => ({
    dataset: r.config.dataset, method: r.label, seed: r.config.seed, 'epoch (validation-selected)': r.looks!.epoch + 1,
    'test images': r.looks!.images, shortcut: r.looks!.shortcutIs,
    'input-gradient energy on the shortcut %': 100 * r.looks!.shortcut,
    'on the digit (2 px margin) %': 100 * r.looks!.digit,
    'test acc % (that epoch)': 100 * r.result.epochs[r.looks!.epoch]?.testAcc,
  }));
}

/** One point of an ablation: which factor is varied, to which value, all else at the defaults. */
export interface AblationSpec extends RunSpec {
  factor: 'prompt' | 'attribute prompt' | 'lambda' | 'map source';
  value: string;
}

/** The prompt-guided default of the ablations (RRR, prompt mode, embedded-VLM maps of "a digit", from epoch 0, val-rr). */
export function ablationDefault(profile: Profile, dataset = profile.ablation.dataset, seed = profile.ablation.seeds[0]): Partial<TrainConfig> {
  const a = profile.ablation;
  return {
    dataset, method: 'rrr', rrrMode: 'prompt', maps: 'embedded', prompt: DIGIT_PROMPT, lambda: a.lambda, attentionEpoch: 0,
    seed, epochs: a.epochs, limit: a.trainImages, evalLimit: a.evalImages, select: 'val-rr',
  };
}

/**
 * The prompts compared: on the ablation dataset the positive "a digit", with and without the negative "a square",
 * the negative alone, and "a bar" (known words that name nothing in these images: its maps stay below the threshold,
 * so it constrains nothing); on the colour dataset "a digit", with and without the attribute "colour of a digit",
 * and the attribute alone.
 */
export const ABLATION_PROMPTS: readonly { factor: 'prompt' | 'attribute prompt'; value: string; config: Partial<TrainConfig> }[] = [
  { factor: 'prompt', value: '"a digit" (default)', config: {} },
  { factor: 'prompt', value: '"a digit", negative "a square"', config: { negativePrompts: ['a square'] } },
  { factor: 'prompt', value: 'negative "a square" only', config: { prompt: null, negativePrompts: ['a square'] } },
  { factor: 'prompt', value: '"a bar" (names nothing there)', config: { prompt: 'a bar' } },
  { factor: 'attribute prompt', value: '"a digit"', config: {} },
  { factor: 'attribute prompt', value: `"a digit", attribute "${COLOUR_ATTRIBUTE_PROMPT}"`, config: { attributePrompt: COLOUR_ATTRIBUTE_PROMPT } },
  // no spatial prompt: no maps (the default 'oracle' is not used by the attribute term)
  { factor: 'attribute prompt', value: `attribute "${COLOUR_ATTRIBUTE_PROMPT}" only`, config: { prompt: null, maps: undefined, attributePrompt: COLOUR_ATTRIBUTE_PROMPT } },
];

/**
 * The ablation runs of a profile: one factor at a time around the prompt-guided default (ablationDefault): prompts
 * (ABLATION_PROMPTS; the attribute prompt on the profile's colour dataset), lambda (0: the penalty measured, not
 * applied), map source (embedded, oracle = the annotation's digit mask, uniform and random controls), for every
 * seed of profile.ablation.seeds (seeds outer). Runs equal to the default share its cache folder.
 */
export function ablationSpecs(profile: Profile, seeds: readonly number[] = profile.ablation.seeds): AblationSpec[] {
  return seeds.flatMap((seed) => ablationSeedSpecs(profile, seed));
}

/** The ablation runs of one seed (ablationSpecs). */
function ablationSeedSpecs(profile: Profile, seed: number): AblationSpec[] {
  const a = profile.ablation;
  const base = ablationDefault(profile, a.dataset, seed);
  const specs: AblationSpec[] = [];
  const add = (factor: AblationSpec['factor'], value: string, o: Partial<TrainConfig>, dataset = a.dataset) => {
    const config: Partial<TrainConfig> = { ...base, dataset, ...o };
    for (const k of Object.keys(config) as (keyof TrainConfig)[]) if (config[k] === undefined) delete config[k];
    specs.push({ factor, value, label: `${factor} = ${value}`, config });
  };
  for (const p of ABLATION_PROMPTS) add(p.factor, p.value, p.config, p.factor === 'attribute prompt' ? a.colourDataset : a.dataset);
  for (const l of [...new Set([...a.lambdas, a.lambda])].sort((x, y) => x - y)) add('lambda', String(l) + (l === a.lambda ? ' (default)' : ''), { lambda: l });
  for (const s of a.mapSources) add('map source', s + (s === 'embedded' ? ' (default)' : ''), { maps: s });
  return specs;
}

export interface AblationRun extends FinishedRun {
  factor: AblationSpec['factor'];
  value: string;
}

export async function trainAblations(specs: readonly AblationSpec[], datasets: Record<string, ShortcutDataset> = {}): Promise<AblationRun[]> {
  const runs = await trainAll(specs, datasets);
  return runs.map((r, i) => ({ ...r, factor: specs[i].factor, value: specs[i].value }));
}

/** One row per ablation run, its seed named (a profile may run the ablations with several). */
export function ablationRows(runs: readonly AblationRun[]): Record<string, string | number>[] {
  return runs.map((r) => ({
    factor: r.factor, dataset: r.config.dataset, value: r.value + (r.diverged ? ` (diverged after ${r.result.epochs.length} epochs)` : ''),
    seed: r.config.seed,
    'selected epoch (val-rr)': r.result.selectedEpoch + 1,
    'val acc % (selected)': 100 * r.result.valAccSelected,
    // under the run's own prompts: not comparable between prompt settings (an empty map excludes nothing)
    'val excluded share % (own prompts)': typeof r.result.valExcludedShareSelected === 'number' ? 100 * r.result.valExcludedShareSelected : '',
    'test acc % (selected epoch)': 100 * r.result.testAccSelected,
    'test acc % (last epoch)': 100 * r.result.testAccFinal,
    'test: input-gradient energy on the shortcut %': r.looks ? 100 * r.looks.shortcut : '',
  }));
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

/** The runs of some specs as `ltl train` commands' flags (what differs from that method's defaults), one row each. */
export function specRows(specs: readonly (RunSpec & { factor?: string })[]): Record<string, string>[] {
  return specs.map((s) => {
    const c = resolveConfig(s.config);
    return { ...(s.factor ? { factor: s.factor } : {}), run: s.label, dataset: c.dataset, 'ltl train flags': trainFlags(c) };
  });
}

/**
 * `ltl train` flags that give this config: what differs from the method's defaults (settingsLabel), plus the
 * choices the CLI would otherwise derive from the prompts (--maps, --rrr-mode, --lambda follow --prompt when unset).
 */
export function trainFlags(c: TrainConfig): string {
  const flags = settingsLabel(c);
  const has = (f: string) => flags.split(' ').includes(f);
  const extra: string[] = [];
  if (c.method === 'rrr' && !has('--rrr-mode')) extra.push(`--rrr-mode ${c.rrrMode}`);
  if (c.method !== 'vanilla' && !has('--lambda')) extra.push(`--lambda ${c.lambda}`);
  if ((c.prompt !== null || c.negativePrompts.length > 0) && !has('--maps')) extra.push(`--maps ${c.maps}`);
  return [`--dataset ${c.dataset} --method ${c.method}`, ...extra, flags].filter(Boolean).join(' ');
}

/** Runs with distinct run folders (the default point appears under every factor). */
function distinctRuns<T extends FinishedRun>(runs: readonly T[]): T[] {
  const seen = new Set<string>();
  return runs.filter((r) => (seen.has(r.dir) ? false : (seen.add(r.dir), true)));
}

/** What a run's validation excluded share is measured under, in words. */
function measuredUnder(c: TrainConfig): string {
  const parts = [...(c.prompt !== null ? [`"${c.prompt}"`] : []), ...c.negativePrompts.map((p) => `not "${p}"`), ...(c.attributePrompt !== null ? [`attribute "${c.attributePrompt}"`] : [])];
  const spatial = c.prompt !== null || c.negativePrompts.length > 0;
  return parts.length ? parts.join(', ') + (spatial ? ` (${c.maps} maps)` : '') : '(no prompts)';
}

/**
 * The two selection rules on the same runs, from each run's epoch records: the epoch val-acc picks (validation
 * accuracy) and the one val-rr picks (val acc x (1 - validation excluded share)), and the test accuracy at each.
 * The excluded share is measured under each run's own prompts and map source ('measured under').
 */
export function selectionRows(runs: readonly FinishedRun[]): Record<string, string | number>[] {
  return distinctRuns(runs).map((r) => {
    const ep = r.result.epochs;
    const acc = selectEpoch(ep, 'val-acc');
    const rr = selectEpoch(ep, 'val-rr');
    const share = (e: number) => (typeof ep[e].valExcludedShare === 'number' ? 100 * (ep[e].valExcludedShare as number) : '');
    return {
      run: `${r.config.dataset}: ${r.label}`, seed: r.config.seed, 'measured under': measuredUnder(r.config), epochs: ep.length,
      'val-acc picks epoch': acc + 1, 'val acc %': 100 * ep[acc].valAcc, 'excluded share % there': share(acc), 'test acc % there': 100 * ep[acc].testAcc,
      'val-rr picks epoch': rr + 1, 'val-rr score %': 100 * rightReasonsScore(ep[rr]), 'excluded share % at val-rr pick': share(rr), 'test acc % at val-rr pick': 100 * ep[rr].testAcc,
    };
  });
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

/**
 * What the ablation's prompts give on validation images (embedded VLM, the first `images` of each dataset's
 * validation split): where each map's mass lies, and the region the training mask is made from (threshold 0.5,
 * dilated by 2 px for a positive prompt, 1 px for a negative one, as --prompt-dilate / --negative-dilate default):
 * how many images get an empty region (no constraint from that map), its area, and how much of the shortcut's pixels
 * it covers. Validation images only: the measurement behind the prompts' rows, before any training.
 */
export async function ablationPromptRows(profile: Profile, datasets: Record<string, ShortcutDataset> = {}, images = 300): Promise<Record<string, string | number>[]> {
  const a = profile.ablation;
  const uses: { dataset: string; prompt: string; role: 'positive' | 'negative' }[] = [];
  for (const spec of ABLATION_PROMPTS) {
    const c = { ...ablationDefault(profile), ...spec.config };
    const dataset = spec.factor === 'attribute prompt' ? a.colourDataset : a.dataset;
    const add = (prompt: string, role: 'positive' | 'negative') => {
      if (!uses.some((u) => u.dataset === dataset && u.prompt === prompt && u.role === role)) uses.push({ dataset, prompt, role });
    };
    if (c.prompt) add(c.prompt, 'positive');
    for (const p of c.negativePrompts ?? []) add(p, 'negative');
  }
  const gen = await createGenerator('embedded');
  try {
    const rows: Record<string, string | number>[] = [];
    for (const u of uses) {
      const ds = (datasets[u.dataset] ??= loadDataset(u.dataset, { cacheDir: dataCacheDir() }));
      const split = ds.val;
      const n = Math.min(images, split.count);
      const indices = Int32Array.from({ length: n }, (_, i) => i);
      const maps = await gen.generate({ split, indices, prompt: u.prompt });
      const q = mapQuality(maps, split);
      const region = promptRegions(maps, { threshold: MEASURE_MASKS.threshold, radius: u.role === 'positive' ? MEASURE_MASKS.positiveRadius : MEASURE_MASKS.negativeRadius }, split.height);
      const hw = split.height * split.width;
      let empty = 0, area = 0, onShortcut = 0, shortcutPx = 0;
      for (let k = 0; k < n; k++) {
        let any = 0;
        for (let p = 0; p < hw; p++) {
          const v = region[k * hw + p];
          any += v; area += v;
          if (split.shortcutMasks?.[k * hw + p]) { shortcutPx++; onShortcut += v; }
        }
        if (!any) empty++;
      }
      rows.push({
        dataset: u.dataset, prompt: `"${u.prompt}" (${u.role})`, 'validation images': n,
        'map mass on the digit %': 100 * q.digitMass, 'map mass on the shortcut %': q.decoyMass === null ? '' : 100 * q.decoyMass,
        'images with an empty region': empty, 'region area % of the image': (100 * area) / (n * hw),
        'shortcut pixels inside the region %': shortcutPx ? (100 * onShortcut) / shortcutPx : '',
      });
    }
    return rows;
  } finally {
    gen.dispose?.();
  }
}
