import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ShortcutDataset } from '../data/types';
import type { MapBatch, MapGenerator } from '../maps/types';
import { compose, dilate, resizeBilinear, threshold } from '../maps/postprocess';
import { defaultPromptCacheDir, mapSourceGenerator, splitMaps, type MapProvenance } from './split-maps';
import { getGeneratorInfo, isMapSource } from '../maps/registry';
import { IDENTITY3, type InputGradPenalty } from '../engines/types';
import { PAPER_DEFAULTS, type TrainConfig } from './config';
import { UserError } from '../util/errors';
import { canonicalJson } from '../util/canonical-json';
import { readSealedJson, writeSealedJson } from '../util/sealed';
import { attributeMatrix, freeAxisMatrix, symmetricEigen3 } from '../vlm/embedded/attribute';
import { attributeSpan, type AttributeSpan } from '../vlm/embedded/attribute-span';
import { loadCheckpoint } from '../vlm/embedded/checkpoint';

/**
 * Prompt-guided input-gradient constraints (docs/training.md, "Prompt-guided RRR"): the maps of
 * text prompts become the per-pixel weights w of the RRR penalty, an attribute prompt becomes its
 * global matrix C (InputGradPenalty, lib/engines/types.ts):
 *  - positive prompt ("a digit": where the evidence is): region = dilate(map > t) on the map's grid,
 *    resized to the model's input grid (any touched pixel counts); w = 1 - region (gradients off the
 *    object are penalised). An image whose map is empty gets w = 0 (the map says nothing about it).
 *  - negative prompt ("a square": where evidence must not come from): w = dilate(map > t), or dilate(its region by
 *    mass) with MaskSettings.mass, resized alike;
 *  - several terms: w = max over them;
 *  - attribute prompt ("colour"): C from the embedded VLM (lib/vlm/embedded/attribute.ts).
 * The same construction on the validation split gives the masks of the right-reasons score
 * (EpochRecord.valExcludedShare).
 */

export interface MaskSettings {
  /** Map threshold (strict: map > t is inside); ignored when `mass` is given. */
  threshold: number;
  /**
   * Region by mass instead: per map, the smallest set of pixels (largest values first, ties by pixel order) that
   * holds this share of the map's total mass. Why: a peaked map (the embedded VLM's) thresholded at half its
   * maximum leaves out a digit's faint strokes, and a constraint that penalises the object's own strokes pushes
   * the net towards whatever else predicts the label; a share of the mass adapts to how peaked each map is.
   */
  mass?: number | null;
  /** Dilation radius in pixels of the map's grid (window 2r+1). */
  radius: number;
}

/** 0/1 regions [N, size, size] of maps: threshold, dilate, bilinear to the input grid, any touched pixel -> 1. */
export function promptRegions(maps: MapBatch, m: MaskSettings, size: number): Float32Array {
  if (!(Number.isInteger(m.radius) && m.radius >= 0)) throw new UserError(`mask dilation radius must be an integer >= 0, not ${m.radius}`);
  const select = m.mass !== undefined && m.mass !== null ? massRegion(m.mass) : threshold(m.threshold);
  const chain = compose(select, dilate(2 * m.radius + 1), resizeBilinear(size, size));
  const out = chain(maps).data;
  for (let i = 0; i < out.length; i++) out[i] = out[i] > 0 ? 1 : 0;
  return out;
}

/** Map step: 1 on the smallest set of pixels holding `share` of each map's mass (MaskSettings.mass), else 0. */
export function massRegion(share: number): (maps: MapBatch) => MapBatch {
  if (!(share > 0 && share <= 1)) throw new UserError(`mask mass share must be in (0, 1], not ${share}`);
  return (maps: MapBatch) => {
    const hw = maps.height * maps.width;
    const out = new Float32Array(maps.data.length);
    const order = new Int32Array(hw);
    for (let n = 0; n < maps.count; n++) {
      const m = maps.data.subarray(n * hw, (n + 1) * hw);
      let total = 0;
      for (let p = 0; p < hw; p++) total += Math.max(0, m[p]);
      if (!(total > 0)) continue; // an empty map has an empty region
      for (let p = 0; p < hw; p++) order[p] = p;
      // largest first; equal values keep pixel order, so the region is deterministic
      order.sort((a, b) => m[b] - m[a] || a - b);
      let acc = 0;
      for (let k = 0; k < hw && acc < share * total; k++) {
        out[n * hw + order[k]] = 1;
        acc += Math.max(0, m[order[k]]);
      }
    }
    return { ...maps, data: out };
  };
}

/** Per-pixel weights of a positive prompt: 1 - region, and 0 for an image whose region is empty. */
export function positiveWeights(maps: MapBatch, m: MaskSettings, size: number): { weights: Float32Array; empty: number } {
  const r = promptRegions(maps, m, size);
  const hw = size * size;
  let empty = 0;
  for (let n = 0; n < maps.count; n++) {
    const img = r.subarray(n * hw, (n + 1) * hw);
    let any = false;
    for (let p = 0; p < hw && !any; p++) any = img[p] > 0;
    if (!any) { empty++; continue; } // stays all 0: no constraint from an empty map
    for (let p = 0; p < hw; p++) img[p] = 1 - img[p];
  }
  return { weights: r, empty };
}

/** Per-pixel weights of a negative prompt: the region itself. */
export function negativeWeights(maps: MapBatch, m: MaskSettings, size: number): Float32Array {
  return promptRegions(maps, m, size);
}

/** Element-wise max of weight arrays (undefined for none). */
export function combineWeights(parts: readonly Float32Array[]): Float32Array | undefined {
  if (parts.length === 0) return undefined;
  const out = parts[0].slice();
  for (const p of parts.slice(1)) for (let i = 0; i < out.length; i++) if (p[i] > out[i]) out[i] = p[i];
  return out;
}

/** Whether a config names any prompt (positive, negative or attribute). */
export function usesPrompts(c: Pick<TrainConfig, 'prompt' | 'negativePrompts' | 'attributePrompt'>): boolean {
  return c.prompt !== null || c.negativePrompts.length > 0 || c.attributePrompt !== null;
}

/** What a run records about its prompt constraint (result.json `prompts`, run folder prompts.json). */
export interface PromptInfo {
  maps: string;
  prompt: string | null;
  negativePrompts: string[];
  attributePrompt: string | null;
  /** The training masks' settings (mass: present when the positive region is taken by mass). */
  masks: { threshold: number; mass?: number; positiveRadius: number; negativeRadius: number; negativeRegion?: 'shared' };
  /** The validation masks' settings when they differ from `masks` (the right-reasons score always uses the defaults). */
  measureMasks?: typeof MEASURE_MASKS;
  /** The penalty matrices (S, C). */
  penalty: InputGradPenalty;
  /** One entry per prompt and split: generator identity, cache key, digest of the maps used. */
  provenance: MapProvenance[];
  /** The attribute matrix and how it compares with OFF_GREY3 (null without an attribute prompt). */
  attribute: Record<string, unknown> | null;
  /** Mean per-pixel weight w over the training / validation masks (null when there are none). */
  trainMeanWeight: number | null;
  valMeanWeight: number | null;
  /** Images whose positive map is empty (no constraint from it). */
  emptyPositive: { train: number; val: number | null };
  /** What the attribute prompt's words span (counterfactual recolouring), when asked for: per value prompt the number
   * of colours the VLM names with it, and the cache key of the span (its digest). */
  span?: { values: string[]; counts: number[]; unnamed: number; cacheKey: string };
}

export interface PromptConstraint {
  penalty: InputGradPenalty;
  /** The penalty the validation right-reasons score measures: the run's own with the attribute matrix always in its
   * graded (moment) form, so runs of either --attribute-form are compared on one scale (as MEASURE_MASKS does for masks). */
  measurePenalty: InputGradPenalty;
  /** Per-pixel weights [nTrain, S, S] when the penalty has a per-pixel term. */
  train?: Float32Array;
  /** The same for the validation images; undefined when the source has no validation maps (a map FILE). */
  val?: Float32Array;
  /** Whether the excluded share can be measured on validation images. */
  measurable: boolean;
  /** Per-pixel weights of the validation images with the counterfactual measure's mask settings (CF_MEASURE_MASKS):
   * where counterfactual validation redraws; undefined without validation maps or spatial prompts. */
  valCounterfactual?: Float32Array;
  /** The attribute prompt's span of values (PromptConstraintOptions.span). */
  span?: AttributeSpan;
  /**
   * The largest R(x) / |g|^2 the penalty allows (w <= 1): 1 per term (per-pixel with S = I; global: lambda_max(C),
   * 1 for every form here). The recorded share is divided by it, so it stays in [0, 1]: with both terms it is
   * the mean of the two terms' shares.
   */
  shareBound: number;
  info: PromptInfo;
}

type PromptConfig = Pick<TrainConfig, 'maps' | 'prompt' | 'negativePrompts' | 'attributePrompt' | 'promptThreshold' | 'promptMass' | 'promptDilate' | 'negativeDilate' | 'attributeForm' | 'seed'>
  & Partial<Pick<TrainConfig, 'negativeRegion'>>;

/** The mean of a batch's maps (one map), for --negative-region shared. */
export function meanMap(maps: MapBatch): Float32Array {
  const hw = maps.height * maps.width, mean = new Float64Array(hw);
  for (let i = 0; i < maps.count; i++) for (let p = 0; p < hw; p++) mean[p] += maps.data[i * hw + p];
  return Float32Array.from(mean, (v) => v / Math.max(1, maps.count));
}

/** `count` copies of one map, as a batch of the grid of `like`. */
function tiledMap(map: Float32Array, count: number, like: MapBatch): MapBatch {
  const data = new Float32Array(count * map.length);
  for (let i = 0; i < count; i++) data.set(map, i * map.length);
  return { count, height: like.height, width: like.width, data };
}

export interface PromptConstraintOptions {
  /** Cache root (default data/cache; maps/ and attributes/ below it). */
  cacheDir?: string;
  /** Also read what the attribute prompt's words span from the VLM (counterfactual recolouring). */
  span?: boolean;
  log?: (msg: string) => void;
}

/**
 * Builds the prompt constraint of a run: maps of every prompt for the first nTrain training and nVal
 * validation images (generated and cached, or read), their masks on the model's input grid, and the
 * attribute matrix.
 */
export async function buildPromptConstraint(c: PromptConfig, ds: ShortcutDataset, nTrain: number, nVal: number, size: number, o: PromptConstraintOptions = {}): Promise<PromptConstraint> {
  const cacheDir = o.cacheDir ?? defaultPromptCacheDir();
  const terms: Array<{ prompt: string; role: 'positive' | 'negative' }> = [
    ...(c.prompt !== null ? [{ prompt: c.prompt, role: 'positive' as const }] : []),
    ...c.negativePrompts.map((p) => ({ prompt: p, role: 'negative' as const })),
  ];
  const provenance: MapProvenance[] = [];
  const parts: Record<'train' | 'val' | 'valCf', Float32Array[]> = { train: [], val: [], valCf: [] };
  const empty = { train: 0, val: null as number | null };
  let valMissing = false;
  const gens = new Map<string, MapGenerator | undefined>();
  const genFor = async (role: 'positive' | 'negative') => {
    // a source whose maps differ by role (the oracle: digit vs shortcut masks) has one generator per role; every other
    // source is one generator for all prompts
    const k = isMapSource(c.maps) && getGeneratorInfo(c.maps).perRole ? role : '';
    if (!gens.has(k)) gens.set(k, await mapSourceGenerator(c.maps, role, c.seed, o.log));
    return gens.get(k);
  };
  // --negative-region shared: a negative prompt's region is one for every image, from the mean of its training maps
  // (validation images get the training images' region: the region is the data's, not an image's)
  const shared = c.negativeRegion === 'shared';
  if (shared && c.negativePrompts.length === 0) throw new UserError('--negative-region shared sets where a negative prompt\'s region comes from: give --negative-prompt (e.g. "a frame")');
  try {
    for (const t of terms) {
      const generator = await genFor(t.role);
      let sharedMean: Float32Array | undefined;
      for (const split of ['train', 'val'] as const) {
        const n = split === 'train' ? nTrain : nVal;
        const got = await splitMaps({ maps: c.maps, prompt: t.prompt, role: t.role, seed: c.seed, cacheDir, generator, log: o.log }, ds, ds[split], n);
        if (!got) { valMissing = true; continue; }
        provenance.push(got.provenance);
        const sharing = shared && t.role === 'negative';
        if (sharing && split === 'train') {
          sharedMean = meanMap(got.maps);
          if (!sharedMean.some((v) => v > c.promptThreshold)) {
            const top = sharedMean.reduce((a, b) => Math.max(a, b), 0);
            throw new UserError(`--negative-region shared: the mean map of ${JSON.stringify(t.prompt)} over the training images exceeds --prompt-threshold ${c.promptThreshold} nowhere (at most ${top.toFixed(3)}): what it names is not at one place in every image; drop --negative-region shared`);
          }
        }
        const maps = sharing ? tiledMap(sharedMean!, n, got.maps) : got.maps;
        // The validation masks measure the right-reasons score: always with the default mask settings, so that runs
        // whose training masks differ (--prompt-mass, --prompt-dilate) are compared on one scale.
        const s = split === 'train' ? { threshold: c.promptThreshold, mass: c.promptMass, positiveRadius: c.promptDilate, negativeRadius: c.negativeDilate } : MEASURE_MASKS;
        // a shared region is the mean map's threshold region: by mass it would spread over the mean's low floor
        const weights = (m: { threshold: number; mass: number | null; positiveRadius: number; negativeRadius: number }) => (t.role === 'positive'
          ? positiveWeights(maps, { threshold: m.threshold, mass: m.mass, radius: m.positiveRadius }, size)
          : { weights: negativeWeights(maps, { threshold: m.threshold, mass: sharing ? null : m.mass, radius: m.negativeRadius }, size), empty: 0 });
        const w = weights(s);
        parts[split].push(w.weights);
        if (t.role === 'positive') { if (split === 'train') empty.train = w.empty; else empty.val = w.empty; }
        // counterfactual validation redraws with one setting for every run too (CF_MEASURE_MASKS)
        if (split === 'val') parts.valCf.push(weights(CF_MEASURE_MASKS).weights);
      }
    }
    const a = c.attributePrompt !== null ? await attributeTerm(c as PromptConfig & { attributePrompt: string }, ds, cacheDir, !!o.span, o.log) : undefined;
    const attribute = a?.attribute ?? null, global = a?.global ?? null, measureGlobal = a?.measureGlobal ?? null, span = a?.span;
    const train = combineWeights(parts.train);
    const val = valMissing ? undefined : combineWeights(parts.val);
    const valCounterfactual = valMissing ? undefined : combineWeights(parts.valCf);
    const penalty: InputGradPenalty = { spatial: train ? IDENTITY3 : null, global };
    const mean = (w?: Float32Array) => (w && w.length ? w.reduce((a, b) => a + b, 0) / w.length : null);
    const info: PromptInfo = {
      maps: c.maps, prompt: c.prompt, negativePrompts: [...c.negativePrompts], attributePrompt: c.attributePrompt,
      masks: { threshold: c.promptThreshold, ...(c.promptMass !== null ? { mass: c.promptMass } : {}), positiveRadius: c.promptDilate, negativeRadius: c.negativeDilate, ...(shared ? { negativeRegion: 'shared' as const } : {}) },
      ...(sameMasks(c) ? {} : { measureMasks: MEASURE_MASKS }),
      penalty, provenance, attribute, trainMeanWeight: mean(train), valMeanWeight: mean(val), emptyPositive: empty,
      ...(span ? { span: { values: span.values, counts: span.colours.map((g) => g.length), unnamed: span.unnamed, cacheKey: span.cacheKey } } : {}),
    };
    if (empty.train) o.log?.(`warning: ${empty.train} of ${nTrain} positive maps of ${JSON.stringify(c.prompt)} are empty (no constraint on those images)`);
    const measurePenalty: InputGradPenalty = { spatial: penalty.spatial, global: measureGlobal };
    const shareBound = (measurePenalty.spatial ? 1 : 0) + (measureGlobal ? Math.max(0, symmetricEigen3(measureGlobal).values[0]) : 0);
    return {
      penalty, measurePenalty, train, val, measurable: !!val || !train, shareBound: shareBound > 0 ? shareBound : 1, info,
      ...(valCounterfactual ? { valCounterfactual } : {}), ...(span ? { span } : {}),
    };
  } finally {
    for (const g of gens.values()) g?.dispose?.();
  }
}

/** The attribute prompt's term: its matrix C from the embedded VLM (the form the run asks for, and the graded form the
 * right-reasons score measures), and what its words span when asked for (counterfactual recolouring). */
async function attributeTerm(c: PromptConfig & { attributePrompt: string }, ds: ShortcutDataset, cacheDir: string, withSpan: boolean, log?: (msg: string) => void): Promise<{
  attribute: NonNullable<PromptInfo['attribute']>; global: number[]; measureGlobal: number[]; span?: AttributeSpan & { cacheKey: string; cached: boolean };
}> {
  // the attribute's directions come from the embedded VLM whatever the map source (its committed checkpoint)
  const vlm = loadCheckpoint();
  const a = await attributeMatrix(vlm, ds, { attribute: c.attributePrompt }, path.join(cacheDir, 'attributes'));
  log?.(`attribute prompt ${JSON.stringify(c.attributePrompt)}: ${a.values.length} value prompts (${a.values.map((v) => JSON.stringify(v)).join(', ')})${a.ignoredWords.length ? `; words the VLM does not know, ignored: ${a.ignoredWords.join(', ')}` : ''}; matrix ${a.cached ? 'from the cache' : `from ${a.images} training images`}, Frobenius cosine to OFF_GREY3 ${a.reference.cosine.toFixed(3)}`);
  const global = c.attributeForm === 'free-axis' ? freeAxisMatrix(a) : a.matrix;
  let span: (AttributeSpan & { cacheKey: string; cached: boolean }) | undefined;
  if (withSpan) {
    span = await attributeSpan(vlm, ds, c.attributePrompt, path.join(cacheDir, 'attributes'));
    log?.(`attribute prompt ${JSON.stringify(c.attributePrompt)} spans ${span.colours.reduce((n, g) => n + g.length, 0)} colours the VLM names (${span.values.map((v, i) => `${v}: ${span!.colours[i].length}`).join(', ')}; ${span.unnamed} of the grid named by none)${span.cached ? ', from the cache' : ''}`);
  }
  vlm.model.dispose();
  return { attribute: { ...a, form: c.attributeForm, used: global }, global, measureGlobal: a.matrix, span };
}

/** The mask settings of the validation right-reasons score (the defaults of every run). */
export const MEASURE_MASKS = {
  threshold: PAPER_DEFAULTS.promptThreshold, mass: null, positiveRadius: PAPER_DEFAULTS.promptDilate, negativeRadius: PAPER_DEFAULTS.negativeDilate,
} as const;

/**
 * The mask settings of counterfactual validation (--select val-cf), the same for every run so that runs are compared on
 * one set of images: the positive region by mass 0.99 dilated by 2 (a peaked map thresholded at half its maximum leaves
 * out faint strokes, and redrawing the object's own strokes would test the net on broken objects), negative regions by
 * mass 0.99 too (mass applies to every spatial prompt, promptRegions via the weights of buildPromptConstraint), dilated
 * by the default 1.
 */
export const CF_MEASURE_MASKS = { threshold: PAPER_DEFAULTS.promptThreshold, mass: 0.99, positiveRadius: 2, negativeRadius: PAPER_DEFAULTS.negativeDilate } as const;

function sameMasks(c: PromptConfig): boolean {
  return c.promptMass === null && c.promptThreshold === MEASURE_MASKS.threshold && c.promptDilate === MEASURE_MASKS.positiveRadius && c.negativeDilate === MEASURE_MASKS.negativeRadius;
}

/** What must not change when a run resumes: the digests of its maps, the mask settings made from them and its penalty matrices. */
function fingerprint(info: PromptInfo): string {
  return canonicalJson({
    masks: info.masks,
    maps: info.provenance.map((p) => ({ prompt: p.prompt, role: p.role, split: p.split, count: p.count, generatorId: p.generatorId, mapsSha256: p.mapsSha256 })),
    penalty: info.penalty,
    ...(info.span ? { span: info.span.cacheKey } : {}),
  });
}

/** A finished run's prompt record (result.json `prompts`) against the constraint built now: the same maps, masks and
 * penalty, or one line saying they changed. */
export function checkPromptInfo(was: PromptInfo | null, now: PromptInfo, outDir: string): void {
  if (!was || fingerprint(was) !== fingerprint(now)) {
    throw new UserError(`the prompt maps or penalty of the finished run in ${outDir} ${was ? 'differ from those made now' : 'are not recorded'} (another VLM checkpoint, map file or map settings; see its result.json 'prompts'): use another --out folder or delete this one`);
  }
}

/**
 * A run folder's record of its prompt constraint (prompts.json): written when the run starts, checked
 * when it resumes, so a resume with other maps (a retrained VLM, an edited map file) is an error
 * instead of a silently mixed run.
 */
export function checkPromptRecord(file: string, info: PromptInfo, resuming: boolean): void {
  if (resuming && fs.existsSync(file)) {
    // Sealed with its SHA-256: a damaged record is an error naming it, not a false 'changed' verdict.
    const old = readSealedJson<PromptInfo>(file, 'prompt record')!;
    if (fingerprint(old) !== fingerprint(info)) {
      throw new UserError(`the prompt maps or penalty of the run in ${path.dirname(file)} changed since it started (another VLM checkpoint, map file or map settings; see ${file}): use another --out folder or delete this one`);
    }
    return;
  }
  writeSealedJson(file, info);
}

