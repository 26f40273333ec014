import type { ImageSplit, ShortcutDataset } from '../data/types';
import type { MapBatch } from '../maps/types';
import { createGenerator, isMapSource, sourceUsesPrompt } from '../maps/registry';
import { buildPostprocess, type PostprocessName } from '../maps/postprocess';
import { UserError } from '../util/errors';
import { openTrainMapFile, splitMaps } from './split-maps';

/**
 * Target distributions for training: for the first `count` images of a split, one distribution per
 * image on the model's attention grid, [count, gh*gw] (sums to 1, or all zeros for an empty map).
 * Made once (raw maps -> post-processing chain), gathered per batch.
 */
export interface TargetMaps {
  readonly count: number;
  readonly grid: { height: number; width: number };
  readonly data: Float32Array;
  /** Images whose target is all zero (an empty map): their KL term is 0 (docs/method.md section 4). */
  readonly empty: number;
  /** Where the raw maps came from (generator name or file). */
  readonly source: string;
}

export interface TargetSpec {
  /** A map source name (lib/maps/registry.ts) or a map file written by `ltl maps` (lib/maps/store.ts). */
  maps: string;
  postprocess: PostprocessName;
  threshold: number;
  /** Seed of random maps. */
  seed: number;
  grid: { height: number; width: number };
  /** The positive prompt, for map sources that make maps from one (the VLMs). */
  prompt?: string | null;
  /** Cache root of generated maps (lib/train/split-maps.ts; default data/cache). */
  cacheDir?: string;
  /** Human messages: warnings of the map source (how the VLM read the prompt), a cache file being remade. */
  log?: (msg: string) => void;
}

/** Raw maps (values in [0, 1], image-sized) of the first `count` images of a split. */
async function rawMaps(spec: TargetSpec, ds: ShortcutDataset, split: ImageSplit, count: number): Promise<MapBatch | undefined> {
  if (!isMapSource(spec.maps)) return mapFileMaps(spec.maps, ds, split, count);
  if (sourceUsesPrompt(spec.maps)) {
    // a prompt generator (a VLM): maps made on the fly, cached on disk, for every split
    if (!spec.prompt) throw new UserError(`--maps ${spec.maps} needs --prompt`);
    return (await splitMaps({ maps: spec.maps, prompt: spec.prompt, role: 'positive', seed: spec.seed, cacheDir: spec.cacheDir, log: spec.log }, ds, split, count))!.maps;
  }
  // annotation masks and controls: cheap, made each time
  const gen = await createGenerator(spec.maps, { seed: spec.seed, role: 'positive' });
  try {
    return await gen.generate({ split, indices: Int32Array.from({ length: count }, (_, i) => i), prompt: '', seed: spec.seed });
  } finally {
    gen.dispose?.();
  }
}

/** The maps of a map file (training maps only: undefined for another split). */
function mapFileMaps(file: string, ds: ShortcutDataset, split: ImageSplit, count: number): MapBatch | undefined {
  if (split.split !== 'train') return undefined;
  const r = openTrainMapFile(file, ds, count);
  try {
    return r.read(Int32Array.from({ length: count }, (_, i) => i));
  } finally {
    r.close();
  }
}

/** Builds the targets of the first `count` images of `split`; undefined when the source has none for it. */
export async function buildTargets(spec: TargetSpec, ds: ShortcutDataset, split: ImageSplit, count: number): Promise<TargetMaps | undefined> {
  const raw = await rawMaps(spec, ds, split, count);
  if (!raw) return undefined;
  // The band is drawn at 32x32 for every model, CDEP's 28x28 net included (docs/method.md section 4).
  const chain = buildPostprocess(spec.postprocess, { threshold: spec.threshold, grid: spec.grid, inputSize: 32 });
  const n = spec.grid.height * spec.grid.width;
  const data = new Float32Array(count * n);
  const hw = raw.height * raw.width;
  const chunk = 2048;
  for (let s = 0; s < count; s += chunk) {
    const c = Math.min(chunk, count - s);
    const out = chain({ count: c, height: raw.height, width: raw.width, data: raw.data.subarray(s * hw, (s + c) * hw) });
    data.set(out.data, s * n);
  }
  let empty = 0;
  for (let i = 0; i < count; i++) {
    let sum = 0;
    for (let p = 0; p < n; p++) sum += data[i * n + p];
    if (!(sum > 0.5)) empty++;
  }
  return { count, grid: spec.grid, data, empty, source: spec.maps };
}
