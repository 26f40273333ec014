import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ImageSplit, ShortcutDataset } from '../data/types';
import type { MapGenerator } from '../maps/types';
import { promptSampleIndices, rankPrompts, type PromptResult, type PromptSpec } from '../evaluate/prompt-ranking';
import { mapQuality } from '../evaluate/map-quality';
import { cachedJson } from './cache';
import { dataCacheDir } from '../report/paths';
import { loadDataset } from '../data/build';
import { defaultCheckpointDir } from '../vlm/embedded/checkpoint';
import { showImageGrid, splitImage, batchMap, type GridTile } from '../report/image-grid';
import type { Profile } from './profiles';
import { barFigure, type Figure } from '../report/plotly';

/**
 * The prompts notebook 02 compares. An empty background list means the generator's defaults (for the
 * embedded VLM: the background prompts stored with its checkpoint). The paper's own prompt ("a clean
 * origami digit" against "background", "black", "dark") is among them; "a square" is a negative
 * control that should find the decoy, not the digit.
 */
export const CANDIDATE_PROMPTS: readonly { prompt: string; background: string[] }[] = [
  { prompt: 'a digit', background: [] },
  { prompt: 'a handwritten digit', background: [] },
  { prompt: 'a number', background: [] },
  { prompt: 'writing', background: [] },
  { prompt: 'a digit', background: ['background', 'black'] },
  { prompt: 'a clean origami digit', background: ['background', 'black', 'dark'] },
  { prompt: 'a square', background: [] },
];

export function promptLabel(p: { prompt: string; background: readonly string[] }): string {
  return p.background.length ? `"${p.prompt}" vs ${p.background.join('/')}` : `"${p.prompt}" (default background)`;
}

/** Identifies the embedded VLM's checkpoint (file names, sizes, times), so cached studies follow a retrained model. */
export function vlmFingerprint(dir = defaultCheckpointDir()): string {
  if (!fs.existsSync(dir)) return 'none';
  return fs.readdirSync(dir).sort().map((f) => {
    const s = fs.statSync(path.join(dir, f));
    return `${f}:${s.size}:${Math.round(s.mtimeMs)}`;
  }).join(',');
}

/** Maps of several prompts for the same images, as grid rows (map over image). */
export async function showPromptMaps(gen: MapGenerator, split: ImageSplit, prompts: readonly { prompt: string; background: string[] }[], indices: number[], caption = ''): Promise<void> {
  const rows: GridTile[][] = [indices.map((i) => ({ image: splitImage(split, i) }))];
  for (const p of prompts) {
    const maps = await gen.generate({ split, indices, prompt: p.prompt, background: p.background });
    rows.push(indices.map((i, k) => ({ image: splitImage(split, i), map: batchMap(maps, k) })));
  }
  await showImageGrid(rows, { scale: 3, rowLabels: ['image', ...prompts.map(promptLabel)], caption });
}

export interface PromptStudyRow {
  dataset: string;
  prompt: string;
  score: number;
  digitMass: number;
  decoyMass: number | null;
  iou: number;
  uniformDigitMass: number;
  mapsPerSecond: number;
}

export interface PromptStudy {
  rows: PromptStudyRow[];
  /** The prompt with the best mean validation score over the datasets. */
  chosen: { prompt: string; background: string[]; meanScore: number };
  sample: number;
}

/**
 * Ranks the candidate prompts on each dataset's VALIDATION split (rankPrompts refuses any other),
 * and picks the best mean score. Cached per (generator, checkpoint, datasets, sample).
 */
export async function promptStudy(gen: MapGenerator, given: readonly ShortcutDataset[], profile: Profile, prompts = CANDIDATE_PROMPTS): Promise<PromptStudy> {
  // Canonical order, so every notebook asking about the same datasets hits the same cache entry.
  const datasets = [...given].sort((a, b) => a.name.localeCompare(b.name));
  const spec = { v: 2, gen: gen.name, vlm: vlmFingerprint(), datasets: datasets.map((d) => d.checksum), sample: profile.promptImages, prompts };
  return cachedJson('prompt-study', spec, async () => {
    const rows: PromptStudyRow[] = [];
    for (const ds of datasets) {
      const ranked: PromptResult[] = await rankPrompts(gen, ds.val, prompts as PromptSpec[], { sample: profile.promptImages });
      for (const r of ranked) {
        rows.push({
          dataset: ds.name, prompt: promptLabel(r), score: r.score, digitMass: r.quality.digitMass, decoyMass: r.quality.decoyMass,
          iou: r.quality.iou, uniformDigitMass: r.quality.uniformDigitMass, mapsPerSecond: r.quality.count / r.seconds,
        });
      }
    }
    const best = choosePrompt(rows, prompts);
    return { rows, chosen: { prompt: best.prompt, background: [...best.background], meanScore: best.meanScore }, sample: profile.promptImages };
  });
}

/** The datasets of the notebooks' prompt study: one study, made in notebook 02 and read from its cache by 03-05. */
export const PROMPT_STUDY_DATASETS: readonly string[] = ['colormnist', 'decoymnist'];

/** The notebooks' prompt study (cached), reusing whichever of its datasets a notebook has already loaded. */
export async function notebookPromptStudy(gen: MapGenerator, profile: Profile, loaded: readonly ShortcutDataset[] = []): Promise<PromptStudy> {
  const datasets = PROMPT_STUDY_DATASETS.map((name) => loaded.find((d) => d.name === name) ?? loadDataset(name, { cacheDir: dataCacheDir() }));
  return promptStudy(gen, datasets, profile);
}

/**
 * The prompts ranked by mean validation score over datasets, best first; scores within `tolerance`
 * count as a tie (the digit-mass share saturates near 1 for good prompts), broken by mean IoU, then
 * by list order.
 */
export function rankStudy(rows: readonly PromptStudyRow[], prompts: readonly { prompt: string; background: string[] }[], tolerance = 1e-3): { prompt: string; background: string[]; meanScore: number; meanIou: number }[] {
  const mean = (label: string, k: 'score' | 'iou') => {
    const v = rows.filter((r) => r.prompt === label).map((r) => r[k]);
    return v.reduce((a, b) => a + b, 0) / v.length;
  };
  const scored = prompts.map((p, i) => ({ prompt: p.prompt, background: [...p.background], meanScore: mean(promptLabel(p), 'score'), meanIou: mean(promptLabel(p), 'iou'), i }));
  scored.sort((a, b) => (Math.abs(a.meanScore - b.meanScore) > tolerance ? b.meanScore - a.meanScore : b.meanIou - a.meanIou || a.i - b.i));
  return scored.map(({ i: _i, ...r }) => r);
}

/** The best prompt of a study's rows (see rankStudy). */
export function choosePrompt(rows: readonly PromptStudyRow[], prompts: readonly { prompt: string; background: string[] }[], tolerance = 1e-3): { prompt: string; background: string[]; meanScore: number; meanIou: number } {
  return rankStudy(rows, prompts, tolerance)[0];
}

/** Quality of prompt-free reference maps (oracle, uniform, random) on the same validation images. */
export async function referenceQuality(gens: readonly MapGenerator[], ds: ShortcutDataset, sample: number): Promise<PromptStudyRow[]> {
  const indices = Array.from(promptSampleIndices(ds.val.count, sample)); // rankPrompts' sample (default seed)
  const rows: PromptStudyRow[] = [];
  for (const g of gens) {
    const t0 = performance.now();
    const maps = await g.generate({ split: ds.val, indices, prompt: '', seed: 0 });
    const secs = (performance.now() - t0) / 1000;
    const q = mapQuality(maps, ds.val, { indices });
    rows.push({ dataset: ds.name, prompt: `[${g.name}]`, score: q.digitMass - (q.decoyMass ?? 0), digitMass: q.digitMass, decoyMass: q.decoyMass, iou: q.iou, uniformDigitMass: q.uniformDigitMass, mapsPerSecond: indices.length / secs });
  }
  return rows;
}

/** Bar chart of one dataset's map quality per prompt (digit mass, decoy mass where there is a decoy, IoU). */
export function promptQualityFigure(rows: readonly PromptStudyRow[], dataset: string): Figure {
  const rs = rows.filter((r) => r.dataset === dataset);
  const hasDecoy = rs.some((r) => r.decoyMass !== null);
  return barFigure(rs.map((r) => r.prompt), [
    { name: 'digit mass', y: rs.map((r) => r.digitMass) },
    ...(hasDecoy ? [{ name: 'decoy mass', y: rs.map((r) => r.decoyMass ?? 0) }] : []),
    { name: 'IoU', y: rs.map((r) => r.iou) },
  ], { title: `${dataset} (validation): map quality per prompt`, yRange: [0, 1] });
}
