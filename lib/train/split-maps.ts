import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ImageSplit, ShortcutDataset } from '../data/types';
import { generatorIdentity, type MapBatch, type MapGenerator } from '../maps/types';
import { MAP_SOURCES, createGenerator, isMapSource, sourceUsesPrompt } from '../maps/registry';
import { CachedMapSource } from '../maps/source';
import { MapStoreReader, expectForSplit, quantizeMaps } from '../maps/store';
import { canonicalJson } from '../util/canonical-json';
import { sha256 } from '../util/hash';
import { UserError } from '../util/errors';
import { packageRoot } from '../util/package-root';

/**
 * Maps of the first N images of a split from a map source (lib/maps/registry.ts), for training: the prompt-guided
 * constraints (lib/train/prompt-constraint.ts) and align's targets with VLM maps. Sources:
 *  - a source whose maps follow the prompt (the VLMs): made on the fly and cached on disk as map-store
 *    files (lib/maps/store.ts, through CachedMapSource) under data/cache/maps/, keyed on the
 *    dataset checksum, the generator's identity (MapGenerator.identity: e.g. a checkpoint hash, the background
 *    prompts and temperature it resolves, a model id), the split, the prompt and how the generator reads the
 *    prompt's untaught words (MapGenerator.untaughtReading);
 *  - a prompt-free source (annotation masks, controls; their maps may depend on the prompt's role, as the oracle's):
 *    made each time (cheap), not cached;
 *  - a map FILE from `ltl maps`: training maps of one prompt only (no validation maps).
 * Every result carries provenance, with the SHA-256 of the quantised maps actually used, so a run
 * can tell when its maps changed.
 */

/** Bumped when the key's meaning changes (old cache files are then never hit). */
const CACHE_VERSION = 1;

/**
 * The root of the caches of training maps and attribute matrices: env LTL_PROMPT_CACHE_DIR, else
 * data/cache under the package root (git-ignored). Maps go to <root>/maps, attribute matrices to
 * <root>/attributes.
 */
export function defaultPromptCacheDir(): string {
  return process.env.LTL_PROMPT_CACHE_DIR || path.join(packageRoot(), 'data', 'cache');
}

export interface MapProvenance {
  /** The --maps value: generator name or file path. */
  source: string;
  /** Generator name (the file's generator for a FILE). */
  generator: string;
  prompt: string;
  /** 'positive' (where the evidence is) or 'negative' (where it must not come from). */
  role: 'positive' | 'negative';
  split: ImageSplit['split'];
  count: number;
  /** Background prompts and settings the generator used (prompt generators only). */
  background: string[];
  generatorId: Record<string, unknown>;
  /** SHA-256 of the cache key spec (prompt generators), else null. */
  cacheKey: string | null;
  /** The cache or map file read or written, else null. */
  file: string | null;
  /** SHA-256 of the uint8 maps used (count x H x W): equal digests mean equal maps. */
  mapsSha256: string;
  /** A prompt of several phrasings ("a digit|a handwritten digit"): each phrasing's own provenance (their maps are
   * averaged; the averaged maps are not cached, their parts are). */
  phrasings?: MapProvenance[];
}

/** The phrasings of a prompt: its texts between '|' (one concept said several ways, GALS-style); one for a plain prompt. */
export function promptPhrasings(prompt: string): string[] {
  const parts = prompt.split('|').map((p) => p.trim()).filter((p) => p.length > 0);
  return parts.length ? parts : [prompt];
}

export interface SplitMapsRequest {
  /** A map source name (lib/maps/registry.ts) or a map file. */
  maps: string;
  prompt: string;
  role: 'positive' | 'negative';
  /** Seed of random maps. */
  seed: number;
  /** Cache root (default defaultPromptCacheDir()); generated maps go to its maps/ folder. */
  cacheDir?: string;
  /** Human messages (a corrupt cache file being remade). */
  log?: (msg: string) => void;
  /** A generator already created for `maps` (shared between prompts and splits; the caller disposes it). */
  generator?: MapGenerator;
}

/** Creates the generator of a map source name for prompts of a role (undefined for a file). Its warnings (how the VLM
 * read a prompt's words) go to `log` as 'warning: ...' lines; without a log, to Node's warning channel. */
export async function mapSourceGenerator(maps: string, role: 'positive' | 'negative', seed: number, log?: (msg: string) => void): Promise<MapGenerator | undefined> {
  if (!isMapSource(maps)) return undefined;
  const warn = asWarning(log);
  return createGenerator(maps, { seed, role, ...(warn ? { warn } : {}) });
}

/** A generator's warn callback over a log: its messages as 'warning: ...' lines (undefined without a log). */
function asWarning(log: ((msg: string) => void) | undefined): ((msg: string) => void) | undefined {
  return log && ((m) => log(`warning: ${m}`));
}

/** The cache key of one prompt's maps of one split (hex SHA-256 of its canonical spec). */
export function mapCacheKey(spec: { datasetChecksum: string; split: string; generator: string; generatorId: Record<string, unknown>; prompt: string; background: string[] }): string {
  return sha256(Buffer.from(canonicalJson({ v: CACHE_VERSION, ...spec })));
}

function digest(maps: MapBatch): string {
  return sha256(quantizeMaps(maps.data));
}

/**
 * A map file given as --maps, opened for the first `count` training images of `ds` (a missing file, or one made for
 * other images, is one UserError). Map files hold training maps only: callers ask for no other split.
 */
export function openTrainMapFile(file: string, ds: ShortcutDataset, count: number): MapStoreReader {
  if (!fs.existsSync(file)) throw new UserError(`--maps: '${file}' is neither one of ${Object.keys(MAP_SOURCES).join(', ')} nor an existing map file`);
  return MapStoreReader.open(file, expectForSplit(ds, 'train', { covers: count }));
}

/**
 * Maps of the first `count` images of `split` for one prompt; undefined when the source has none for
 * this split (a map FILE holds training maps only).
 */
export async function splitMaps(req: SplitMapsRequest, ds: ShortcutDataset, split: ImageSplit, count: number): Promise<{ maps: MapBatch; provenance: MapProvenance } | undefined> {
  const indices = Int32Array.from({ length: count }, (_, i) => i);
  const base = { source: req.maps, prompt: req.prompt, role: req.role, split: split.split, count };
  if (!isMapSource(req.maps)) {
    if (split.split !== 'train') return undefined;
    const r = openTrainMapFile(req.maps, ds, count);
    try {
      const h = r.header;
      // a file of prompt-free maps answers any prompt
      if (!(isMapSource(h.generator) && !sourceUsesPrompt(h.generator)) && h.prompt !== req.prompt) {
        throw new UserError(`map file ${req.maps} was made with prompt ${JSON.stringify(h.prompt)}, not ${JSON.stringify(req.prompt)}`);
      }
      const maps = r.read(indices);
      return { maps, provenance: { ...base, generator: h.generator, background: h.background, generatorId: { payloadSha256: h.payloadSha256 }, cacheKey: null, file: path.resolve(req.maps), mapsSha256: digest(maps) } };
    } finally {
      r.close();
    }
  }
  const gen = req.generator ?? (await mapSourceGenerator(req.maps, req.role, req.seed, req.log))!;
  try {
    const phrasings = promptPhrasings(req.prompt);
    if (gen.usesPrompt && phrasings.length > 1) return await averagedMaps({ ...req, generator: gen }, phrasings, ds, split, count, base);
    if (!gen.usesPrompt) {
      const maps = await gen.generate({ split, indices, prompt: req.prompt, seed: req.seed });
      return { maps, provenance: { ...base, generator: gen.name, background: [], generatorId: generatorIdentity(gen).id, cacheKey: null, file: null, mapsSha256: digest(maps) } };
    }
    const { id, background } = generatorIdentity(gen);
    // words the generator was not taught are read some way (the embedded VLM: through WordNet), and that reading may
    // change with the code: it is part of the key when there are such words (prompts of known words keep their keys,
    // so their caches stay valid)
    const reading = gen.untaughtReading?.([req.prompt, ...background]);
    const keySpec = { datasetChecksum: ds.checksum, split: split.split, generator: gen.name, generatorId: id, prompt: req.prompt, background, ...(reading ? { reading } : {}) };
    const cacheKey = mapCacheKey(keySpec);
    const file = path.join(req.cacheDir ?? defaultPromptCacheDir(), 'maps', `${ds.name}-${split.split}-${gen.name}-${cacheKey.slice(0, 16)}.maps.safetensors`);
    const open = () => new CachedMapSource(gen, {
      split, dataset: ds.name, datasetChecksum: ds.checksum, prompt: req.prompt, background,
      storeFile: file, extra: { cacheKey, generatorId: id },
    });
    if (fs.existsSync(file) && fs.statSync(file).isDirectory()) {
      throw new UserError(`map cache ${file} is a folder, not a map file: move it away or delete it (the maps are then made again)`);
    }
    let source: CachedMapSource;
    try {
      source = open();
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      // A cache file is never trusted: one that fails its checks is made again.
      req.log?.(`map cache ${file} is unusable (${e.message}); making the maps again`);
      fs.rmSync(file, { force: true });
      source = open();
    }
    // A generator checks the prompt's words when it makes maps; maps all read from the cache are checked here.
    if (indices.every((i) => source.has(i))) gen.checkPrompt?.(req.prompt, background, asWarning(req.log));
    const maps = await source.get(indices);
    source.flush();
    return { maps, provenance: { ...base, generator: gen.name, background, generatorId: id, cacheKey, file, mapsSha256: digest(maps) } };
  } finally {
    if (!req.generator) gen.dispose?.();
  }
}

/**
 * A prompt of several phrasings: the mean of its phrasings' maps (each made and cached as a prompt of its own). Why a
 * mean: one concept said several ways, as GALS averages its prompts' attention; a phrasing the VLM reads poorly is
 * outvoted where the others agree.
 */
async function averagedMaps(req: SplitMapsRequest & { generator: MapGenerator }, phrasings: readonly string[], ds: ShortcutDataset, split: ImageSplit, count: number,
  base: Pick<MapProvenance, 'source' | 'prompt' | 'role' | 'split' | 'count'>): Promise<{ maps: MapBatch; provenance: MapProvenance }> {
  const parts: Array<{ maps: MapBatch; provenance: MapProvenance }> = [];
  for (const prompt of phrasings) parts.push((await splitMaps({ ...req, prompt }, ds, split, count))!);
  const first = parts[0].maps;
  const data = new Float32Array(first.data.length);
  for (const p of parts) for (let i = 0; i < data.length; i++) data[i] += p.maps.data[i] / parts.length;
  const maps: MapBatch = { ...first, data };
  const { id, background } = generatorIdentity(req.generator);
  return { maps, provenance: { ...base, generator: req.generator.name, background, generatorId: id, cacheKey: null, file: null, mapsSha256: digest(maps), phrasings: parts.map((p) => p.provenance) } };
}
