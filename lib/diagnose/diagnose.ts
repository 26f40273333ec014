import * as path from 'node:path';
import type { ShortcutDataset, SplitName } from '../data/types';
import { SPLITS } from '../data/types';
import { loadDataset } from '../data';
import { activeBackend, initBackend } from '../backend';
import { prepareImages } from '../train/data';
import { defaultPromptCacheDir, mapSourceGenerator, splitMaps } from '../train/split-maps';
import { meanMap, type MaskSettings } from '../train/prompt-constraint';
import { PAPER_DEFAULTS } from '../train/config';
import { getGeneratorInfo, isMapSource, MAP_SOURCE } from '../maps/registry';
import type { MapGenerator } from '../maps/types';
import { namedColours } from '../counterfactual/colours';
import { attributeMatrix } from '../vlm/embedded/attribute';
import { attributeSpan } from '../vlm/embedded/attribute-span';
import { loadCheckpoint, type LoadedVlm } from '../vlm/embedded/checkpoint';
import type { ModelName } from '../models/types';
import { UserError } from '../util/errors';
import { attributeAttention, attributeEnergyMap, gradientEnergy, lift, regionAttention } from './attention';
import { ATTRIBUTIONS, attributions, DEFAULT_ATTRIBUTION, type AttributionName } from './attribution';
import { loadCheckpointNet, loadRunNet, type DiagnosedNet, type LoadedNet } from './net';
import { DIAGNOSIS_MASKS, attributeProblem, diagnosisRegions, regionCoverage, regionProblem } from './regions';
import {
  attributeCounterfactual, counterfactualOf, diagnosisColours, diagnosisDraws, measureReliance, regionCounterfactual,
  type Counterfactual,
} from './reliance';
import { MIN_MARGIN, RANKING, rankPrompts, verdictOf } from './verdict';
import type { Candidate, Diagnosis, DiagnosisExample, DiagnosisJson, PromptDiagnosis } from './types';

/**
 * `ltl diagnose` as a library call: which of some candidate prompts a trained net reads, measured on images of one
 * split (validation unless told; the test split only when asked for by name), before anyone fixes anything.
 *  diagnose(net, ds, options)         a net in memory (lib/diagnose/net.ts) on a dataset;
 *  diagnoseRun(dir, options)          a run folder's validation-selected weights, on the data it was trained on;
 *  diagnoseCheckpoint(file, options)  a bare checkpoint file on a named dataset;
 *  diagnoseImages(net, images, candidates, settings)  the measurement itself, on given images and maps (no VLM).
 */
export interface DiagnoseOptions {
  /** Region prompts ("a digit", "a frame", ...): their maps come from `maps`. */
  prompts?: readonly string[];
  /** Attribute prompts ("colour"): input directions and colours from the embedded VLM (lib/vlm/embedded/attribute*.ts). */
  attributePrompts?: readonly string[];
  /** The split measured (default 'val'). The test split is read only when named here. */
  split?: SplitName;
  /** Only the first N images of the split (default all). */
  limit?: number;
  /** The map source of region prompts: a prompt generator ('embedded', the default, or 'clipseg'). */
  maps?: string;
  /** Seed of the donors, chance shifts and colours (default 1). */
  seed?: number;
  /** The smallest margin a verdict needs (default MIN_MARGIN). */
  minMargin?: number;
  /** Example images per prompt kept for the figure (default 3). */
  examples?: number;
  /** How maps become regions (default DIAGNOSIS_MASKS). */
  regions?: MaskSettings;
  /** What the attention measure attributes predictions to (default 'gradient'; lib/diagnose/attribution.ts). */
  attribution?: AttributionName;
  /** Cache root of generated maps and attribute matrices (default data/cache; lib/train/split-maps.ts). */
  cacheDir?: string;
  /** Human messages: warnings, how the VLM read a prompt's words. */
  log?: (msg: string) => void;
}

export const DIAGNOSIS_DEFAULTS = { split: 'val' as SplitName, maps: MAP_SOURCE.embedded, seed: 1, examples: 3 } as const;

/** The images a diagnosis measures: the first `count` of a split on the model's input grid. */
export interface DiagnosisImages {
  dataset: string;
  split: SplitName;
  /** [count, S, S, 3] in [-1, 1] (lib/train/data.ts prepareImages). */
  images: Float32Array;
  labels: ArrayLike<number>;
  count: number;
  /** The images' indices in the split (default 0..count-1): only for the figure's captions. */
  indices?: ArrayLike<number>;
}

export interface DiagnoseImagesSettings {
  seed?: number;
  minMargin?: number;
  examples?: number;
  regions?: MaskSettings;
  attribution?: AttributionName;
  /** The map source named in the record (null: maps given by the caller). */
  maps?: string | null;
  /** Where the net came from, for the record. */
  net?: string;
}

/** The measurement: reliance and attention of every candidate on the given images, ranked, with the verdict. */
export function diagnoseImages(net: DiagnosedNet, data: DiagnosisImages, candidates: readonly Candidate[], s: DiagnoseImagesSettings = {}): Diagnosis {
  const seed = s.seed ?? DIAGNOSIS_DEFAULTS.seed, minMargin = s.minMargin ?? MIN_MARGIN;
  const regionSettings = s.regions ?? DIAGNOSIS_MASKS, nExamples = s.examples ?? DIAGNOSIS_DEFAULTS.examples;
  const { images, labels, count } = data;
  const S = net.inputSize, hw = S * S, row = hw * 3;
  if (images.length < count * row) throw new Error(`diagnoseImages: ${count} images of ${S}x${S}x3 expected, got ${images.length} values`);
  if (candidates.length === 0) throw new UserError('diagnose needs at least one prompt (region prompts or attribute prompts)');
  const before = net.predict(images, count);
  let correct = 0;
  for (let i = 0; i < count; i++) if (before[i] === labels[i]) correct++;
  const attribution = s.attribution ?? DEFAULT_ATTRIBUTION;
  const energy = gradientEnergy(net, images, count, attribution, before);
  const draws = diagnosisDraws(count, S, seed, labels);
  // region prompts keep each image's colour when attribute prompts are candidates too (regionCounterfactual says why)
  const keepColour = candidates.some((c) => c.kind === 'attribute');
  const measured: PromptDiagnosis[] = [];
  const examples: DiagnosisExample[] = [];
  for (const c of candidates) {
    let vary: Counterfactual, att, warning: string | null, found: number;
    if (c.kind === 'region') {
      if (c.maps.count !== count) throw new Error(`maps of ${JSON.stringify(c.prompt)}: ${c.maps.count} for ${count} images`);
      const regions = diagnosisRegions(c.maps, S, regionSettings);
      const cov = regionCoverage(regions, count, hw);
      warning = regionProblem(c.prompt, cov);
      found = cov.found;
      vary = regionCounterfactual(images, S, regions, draws, { keepColour });
      att = regionAttention(energy, regions);
    } else {
      vary = attributeCounterfactual(images, S, diagnosisColours(count, c.colours, seed), draws);
      att = attributeAttention(energy, c.matrix);
      warning = attributeProblem(c.prompt, att.chance);
      found = count;
    }
    const r = measureReliance(net, images, labels, count, before, vary);
    measured.push({
      prompt: c.prompt, kind: c.kind, flipRate: r.flipRate, accuracyDrop: r.accuracyDrop,
      chanceFlipRate: r.chanceFlipRate, chanceAccuracyDrop: r.chanceAccuracyDrop,
      sameClassFlipRate: r.sameClassFlipRate, sameClassAccuracyDrop: r.sameClassAccuracyDrop, margin: r.flipRate - r.sameClassFlipRate,
      share: att.share, chance: att.chance, lift: lift(att), changed: r.changed, found, keepsColour: c.kind === 'region' && keepColour, warning,
      onePlace: c.kind === 'region' ? meanMap(c.maps).some((v) => v > ONE_PLACE_THRESHOLD) : null,
    });
    examples.push(...promptExamples(net, data, c, vary, before, r.after, energy.energy, nExamples, attribution));
  }
  const prompts = rankPrompts(measured);
  const { top, verdict } = verdictOf(prompts, minMargin, attribution);
  const topPrompt = prompts.find((p) => p.prompt === top);
  return {
    dataset: data.dataset, split: data.split, images: count, accuracy: count ? correct / count : 0, net: s.net ?? 'a net in memory',
    prompts, top, verdict, next: topPrompt ? nextStep(topPrompt) : null, warnings: prompts.flatMap((p) => (p.warning ? [p.warning] : [])),
    settings: { regions: { ...regionSettings }, attribution, seed, minMargin, ranking: RANKING, maps: s.maps ?? null },
    examples,
  };
}

/** A candidate's attention under one attribution (a row of `measureAttention`). */
export interface AttentionRecord {
  attribution: AttributionName;
  prompt: string;
  kind: Candidate['kind'];
  /** Share of the attribution's energy in the prompt's region (or along its directions); null when no image has any. */
  share: number | null;
  chance: number;
  lift: number | null;
}

/**
 * The attention measure alone (no counterfactuals), of every candidate under each of `kinds`: the regions and attribute
 * matrices are made once and every attribution's energy is computed once, so comparing attributions costs one energy
 * pass each. The same numbers as diagnoseImages' share, chance and lift for the same settings.
 */
export function measureAttention(net: DiagnosedNet, data: DiagnosisImages, candidates: readonly Candidate[], kinds: readonly AttributionName[], regions: MaskSettings = DIAGNOSIS_MASKS): AttentionRecord[] {
  const S = net.inputSize;
  const before = net.predict(data.images, data.count);
  const where = candidates.map((c) => (c.kind === 'region' ? diagnosisRegions(c.maps, S, regions) : c.matrix));
  return kinds.flatMap((attribution) => {
    const energy = gradientEnergy(net, data.images, data.count, attribution, before);
    return candidates.map((c, i) => {
      const att = c.kind === 'region' ? regionAttention(energy, where[i] as Uint8Array) : attributeAttention(energy, where[i] as readonly number[]);
      return { attribution, prompt: c.prompt, kind: c.kind, share: att.share, chance: att.chance, lift: lift(att) };
    });
  });
}

/** The threshold --negative-region shared applies to a mean map by default (the training default --prompt-threshold). */
const ONE_PLACE_THRESHOLD = PAPER_DEFAULTS.promptThreshold;

/**
 * What to train with so that a net stops reading what `p` names, should that be a shortcut (the diagnosis cannot tell a
 * shortcut from the object: the user's prompts say which is which): the language recipe with the prompt that names it
 * and, where its maps agree on one place in every image, one region for all (--negative-region shared).
 */
function nextStep(p: PromptDiagnosis): string {
  const q = JSON.stringify(p.prompt);
  const flags = p.kind === 'attribute' ? `--attribute-prompt ${q}` : `--negative-prompt ${q}${p.onePlace ? ' --negative-region shared' : ''}`;
  const where = p.onePlace ? ` (its maps agree on one place in every image: their mean exceeds ${ONE_PLACE_THRESHOLD} there)` : '';
  return `if ${q} is a shortcut, not the object: ltl train --recipe language --prompt <the object> ${flags}${where}`;
}

/** The first `k` images a candidate's counterfactual changes, with what the figure shows of them. */
function promptExamples(net: DiagnosedNet, data: DiagnosisImages, c: Candidate, vary: Counterfactual, before: Int32Array, after: Int32Array, energy: Float32Array, k: number, attribution: AttributionName): DiagnosisExample[] {
  const S = net.inputSize, hw = S * S, row = hw * 3;
  const picked: Array<{ i: number; cf: Float32Array }> = [];
  for (let i = 0; i < data.count && picked.length < k; i++) {
    const cf = counterfactualOf(data.images, S, i, vary);
    if (cf.some((v, p) => v !== data.images[i * row + p])) picked.push({ i, cf });
  }
  if (picked.length === 0) return [];
  let grads: Float32Array | undefined;
  if (c.kind === 'attribute') {
    const batch = new Float32Array(picked.length * row);
    picked.forEach(({ i }, j) => batch.set(data.images.subarray(i * row, (i + 1) * row), j * row));
    grads = attributions(net, attribution, batch, picked.length, picked.map(({ i }) => before[i]));
  }
  return picked.map(({ i, cf }, j) => {
    const mh = c.kind === 'region' ? c.maps.height * c.maps.width : hw;
    return {
      prompt: c.prompt, kind: c.kind, index: data.indices ? data.indices[i] : i, label: data.labels[i], before: before[i], after: after[i], size: S,
      image: data.images.slice(i * row, (i + 1) * row), counterfactual: cf,
      map: c.kind === 'region'
        ? { data: c.maps.data.slice(i * mh, (i + 1) * mh), width: c.maps.width, height: c.maps.height }
        : { data: attributeEnergyMap(grads!, j * row, hw, c.matrix), width: S, height: S },
      energy: energy.slice(i * hw, (i + 1) * hw),
    };
  });
}

/** A diagnosis without its example images: the record `ltl diagnose --json` prints. */
export function diagnosisJson(d: Diagnosis): DiagnosisJson {
  const { examples, ...rest } = d;
  return rest;
}

/**
 * The candidates of a dataset's split: maps of the region prompts for its first `count` images (generated and cached
 * as training's are, lib/train/split-maps.ts; a prompt with no word the VLM knows is refused as there), and the
 * attribute prompts' matrices and colour spans (read from the training split, never from the split measured).
 */
export async function promptCandidates(ds: Pick<ShortcutDataset, 'name' | 'checksum' | 'train'>, split: ShortcutDataset['val'], count: number, o: DiagnoseOptions = {}): Promise<Candidate[]> {
  const prompts = [...(o.prompts ?? [])], attributes = [...(o.attributePrompts ?? [])];
  if (prompts.length + attributes.length === 0) throw new UserError('diagnose needs at least one prompt: give --prompts (e.g. "a digit" "a frame") or --attribute-prompts (e.g. "colour")');
  const dup = [...prompts, ...attributes].find((p, i, all) => all.indexOf(p) !== i);
  if (dup !== undefined) throw new UserError(`prompt ${JSON.stringify(dup)} is given twice`);
  const maps = o.maps ?? DIAGNOSIS_DEFAULTS.maps, seed = o.seed ?? DIAGNOSIS_DEFAULTS.seed;
  const cacheDir = o.cacheDir ?? defaultPromptCacheDir();
  if (prompts.length) {
    if (!isMapSource(maps) || !getGeneratorInfo(maps).usesPrompt) {
      throw new UserError(`--maps ${maps}: diagnose reads prompts, so its maps must come from a prompt generator (embedded, clipseg)`);
    }
  }
  const out: Candidate[] = [];
  let generator: MapGenerator | undefined;
  let vlm: LoadedVlm | undefined;
  // the embedded generator's own VLM when it made the region maps (one model in memory), else a VLM loaded here
  let ownVlm = false;
  try {
    if (prompts.length) generator = await mapSourceGenerator(maps, 'positive', seed, o.log);
    for (const prompt of prompts) {
      const got = await splitMaps({ maps, prompt, role: 'positive', seed, cacheDir, generator, log: o.log }, ds as ShortcutDataset, split, count);
      if (!got) throw new Error(`no maps of ${JSON.stringify(prompt)} for the ${split.split} split`);
      out.push({ kind: 'region', prompt, maps: got.maps });
    }
    if (attributes.length) {
      const { EmbeddedGenerator } = await import('../vlm/embedded/generator');
      ownVlm = !(generator instanceof EmbeddedGenerator);
      vlm = generator instanceof EmbeddedGenerator ? generator.load() : loadCheckpoint();
      // only the training split is read here (the attribute's directions and colour span), whatever split is measured
      const train = { name: ds.name, checksum: ds.checksum, train: ds.train };
      for (const attribute of attributes) {
        const a = await attributeMatrix(vlm, train, { attribute }, path.join(cacheDir, 'attributes'));
        const span = await attributeSpan(vlm, train, attribute, path.join(cacheDir, 'attributes'));
        if (a.ignoredWords.length) o.log?.(`attribute prompt ${JSON.stringify(attribute)}: words the VLM does not know, ignored: ${a.ignoredWords.join(', ')}`);
        out.push({ kind: 'attribute', prompt: attribute, matrix: a.matrix, colours: namedColours(span) });
      }
    }
  } finally {
    if (vlm && ownVlm) vlm.model.dispose();
    generator?.dispose?.();
  }
  return out;
}

/** The images and candidates a diagnosis of `net` measures: the first `limit` images of one split of a dataset (only
 * that split is read, and the training split for attribute prompts), and the prompts' maps or matrices. */
async function diagnosisInputs(net: DiagnosedNet, ds: ShortcutDataset, o: DiagnoseOptions): Promise<{ data: DiagnosisImages; candidates: Candidate[] }> {
  if (!activeBackend()) await initBackend();
  const splitName = o.split ?? DIAGNOSIS_DEFAULTS.split;
  if (!(SPLITS as readonly string[]).includes(splitName)) throw new UserError(`--split must be one of ${SPLITS.join(', ')}, not '${splitName}'`);
  const split = ds[splitName];
  if (o.limit !== undefined && !(Number.isInteger(o.limit) && o.limit >= 2)) throw new UserError(`--limit must be an integer >= 2, not ${o.limit}`);
  const count = Math.min(o.limit ?? split.count, split.count);
  if (count < 2) throw new UserError(`the ${splitName} split of ${ds.name} has ${split.count} image(s): a diagnosis redraws from other images and needs at least 2`);
  const candidates = await promptCandidates(ds, split, count, o);
  const images = prepareImages(split, count, net.inputSize);
  return { data: { dataset: ds.name, split: splitName, images, labels: split.labels, count }, candidates };
}

/** Diagnoses a net on the first `limit` images of one split of a dataset (only that split is read, and the training split for attribute prompts). */
export async function diagnose(net: DiagnosedNet, ds: ShortcutDataset, o: DiagnoseOptions & { netName?: string } = {}): Promise<Diagnosis> {
  const { data, candidates } = await diagnosisInputs(net, ds, o);
  const d = diagnoseImages(net, data, candidates, {
    seed: o.seed, minMargin: o.minMargin, examples: o.examples, regions: o.regions, attribution: o.attribution, maps: o.prompts?.length ? o.maps ?? DIAGNOSIS_DEFAULTS.maps : null,
    net: o.netName,
  });
  for (const w of d.warnings) o.log?.(`warning: ${w}`);
  return d;
}

function netLabel(l: LoadedNet): string {
  return `${l.file} (epoch ${l.epoch + 1})`;
}

/**
 * Diagnoses a run folder's net (its validation-selected weights) on the data it was trained on (its config's dataset,
 * data seed and shortcut labels; a dataset given must have the checksum the run recorded).
 */
export function diagnoseRun(dir: string, o: DiagnoseOptions & { dataset?: ShortcutDataset; mnistDir?: string } = {}): Promise<Diagnosis> {
  return withRunNet(dir, o, (net, ds, netName) => diagnose(net, ds, { ...o, netName }));
}

/**
 * The attention measure of a run folder's net under each attribution of `attributions` (default all), on the images and
 * candidates `diagnoseRun` would measure (measureAttention: the maps and regions once for every attribution).
 */
export function attentionOfRun(dir: string, o: DiagnoseOptions & { dataset?: ShortcutDataset; mnistDir?: string; attributions?: readonly AttributionName[] } = {}): Promise<AttentionRecord[]> {
  return withRunNet(dir, o, async (net, ds) => {
    const { data, candidates } = await diagnosisInputs(net, ds, o);
    return measureAttention(net, data, candidates, o.attributions ?? ATTRIBUTIONS, o.regions);
  });
}

/** Runs `f` on a run folder's validation-selected net and the data it was trained on (its config's dataset, data seed and
 * shortcut labels; a dataset given must have the checksum the run recorded), then frees the net. */
async function withRunNet<T>(dir: string, o: { dataset?: ShortcutDataset; mnistDir?: string }, f: (net: DiagnosedNet, ds: ShortcutDataset, netName: string) => Promise<T>): Promise<T> {
  if (!activeBackend()) await initBackend();
  const loaded = loadRunNet(dir);
  try {
    const c = loaded.config;
    const ds = o.dataset ?? loadDataset(c.dataset, { dir: o.mnistDir, seed: c.dataSeed, shortcutLabels: c.shortcutLabels });
    const was = loaded.inputs?.datasetChecksum;
    if (was && was !== ds.checksum) {
      throw new UserError(`the run in ${dir} was trained on data with checksum ${was.slice(0, 12)}..., the dataset ${ds.name} here has ${ds.checksum.slice(0, 12)}... (another data seed, base files or shortcut labels?)`);
    }
    return await f(loaded.net, ds, netLabel(loaded));
  } finally {
    loaded.net.dispose();
  }
}

/** Diagnoses a bare checkpoint file (selected.safetensors) on a dataset named or given; the model is read from its weights. */
export async function diagnoseCheckpoint(file: string, o: DiagnoseOptions & { dataset: string | ShortcutDataset; dataSeed?: number; mnistDir?: string; model?: ModelName }): Promise<Diagnosis> {
  if (!activeBackend()) await initBackend();
  const loaded = loadCheckpointNet(file, o.model, '--model');
  try {
    const ds = typeof o.dataset === 'string' ? loadDataset(o.dataset, { dir: o.mnistDir, seed: o.dataSeed ?? PAPER_DEFAULTS.dataSeed }) : o.dataset;
    const was = loaded.inputs?.datasetChecksum;
    if (was && was !== ds.checksum) {
      o.log?.(`warning: ${file} was trained on ${loaded.inputs!.dataset} (checksum ${was.slice(0, 12)}...), not on this ${ds.name} (${ds.checksum.slice(0, 12)}...): the diagnosis is of the net on other data`);
    }
    return await diagnose(loaded.net, ds, { ...o, netName: netLabel(loaded) });
  } finally {
    loaded.net.dispose();
  }
}
