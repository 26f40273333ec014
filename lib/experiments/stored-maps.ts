import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ShortcutDataset } from '../data/types';
import type { MapGenerator } from '../maps/types';
import { CachedMapSource } from '../maps/source';
import { MAP_SOURCE } from '../maps/registry';
import { MapStoreReader, expectForSplit } from '../maps/store';
import { encodePng } from '../util/png';
import { cacheDir } from '../report/paths';
import { cacheKey, cachedJson } from './cache';
import { vlmFingerprint } from './prompt-study';

/** What notebook 03 reports about one stored set of training maps. */
export interface StoredMaps {
  file: string;
  dataset: string;
  generator: string;
  prompt: string;
  background: string[];
  images: number;
  /** Generation time when the store was made (not re-measured when it is reused). */
  generateSeconds: number;
  mapsPerSecond: number;
  fileBytes: number;
  bytesPerMap: number;
  /** Seconds to read all maps back from the file (measured now). */
  readSeconds: number;
}

/**
 * The map store file of the first `images` training images of a dataset, made once with `gen` under
 * runs/notebooks/maps/ (the trainer's `maps: <file>` reads it) and reused when it exists.
 */
export async function trainingMapsFile(
  gen: MapGenerator,
  ds: ShortcutDataset,
  p: { prompt: string; background: string[] },
  images: number,
  onProgress?: (done: number, total: number) => void,
): Promise<{ file: string; images: number; generateSeconds: number; mapsPerSecond: number }> {
  const n = Math.min(images, ds.train.count);
  // Keyed on what decides the maps only: a ranked prompt carries its score too, and must not make a second store.
  const spec = { gen: gen.name, vlm: gen.name === MAP_SOURCE.embedded ? vlmFingerprint() : '', ds: ds.checksum, p: { prompt: p.prompt, background: [...p.background] }, n };
  const file = path.join(cacheDir('maps'), `${ds.name}-${gen.name}-${cacheKey(spec)}.maps.safetensors`);
  const made = await cachedJson('map-store', { ...spec, file }, async () => {
    if (fs.existsSync(file)) fs.rmSync(file); // a stale file without its record: make it again
    const source = new CachedMapSource(gen, { split: ds.train, dataset: ds.name, datasetChecksum: ds.checksum, prompt: p.prompt, background: p.background, storeFile: file });
    await source.get(Int32Array.from({ length: n }, (_, i) => i), onProgress);
    source.flush();
    const s = source.stats;
    return { generateSeconds: s.generateSeconds, mapsPerSecond: s.mapsPerSecond };
  });
  if (!fs.existsSync(file)) throw new Error(`map store ${file} is missing although its record exists: delete ${cacheDir('map-store')} and rerun`);
  return { file, images: n, ...made };
}

/**
 * trainingMapsFile plus what notebook 03 reports about the store: its size and the time to read it
 * back (measured now); the generation timings are those of the run that made it.
 */
export async function storeTrainingMaps(
  gen: MapGenerator,
  ds: ShortcutDataset,
  p: { prompt: string; background: string[] },
  images: number,
  onProgress?: (done: number, total: number) => void,
): Promise<StoredMaps> {
  const { file, images: n, ...made } = await trainingMapsFile(gen, ds, p, images, onProgress);
  const t0 = performance.now();
  const r = MapStoreReader.open(file, expectForSplit(ds, 'train', { covers: n }));
  try {
    r.read(Int32Array.from({ length: n }, (_, i) => i));
  } finally {
    r.close();
  }
  const readSeconds = (performance.now() - t0) / 1000;
  const fileBytes = fs.statSync(file).size;
  return {
    file, dataset: ds.name, generator: gen.name, prompt: p.prompt, background: p.background, images: n,
    generateSeconds: made.generateSeconds, mapsPerSecond: made.mapsPerSecond, fileBytes, bytesPerMap: fileBytes / n, readSeconds,
  };
}

/**
 * Mean size of the maps stored the paper's way: one binary-mask PNG per image (threshold 0.5).
 * Measured on the first `sample` maps of a store.
 */
export async function pngBytesPerMap(file: string, sample = 200): Promise<number> {
  const r = MapStoreReader.open(file);
  try {
    const n = Math.min(sample, r.header.count);
    const maps = r.read(Int32Array.from(r.indices.subarray(0, n)));
    const hw = maps.height * maps.width;
    let total = 0;
    for (let i = 0; i < n; i++) {
      const mask = new Uint8Array(hw);
      for (let p = 0; p < hw; p++) mask[p] = maps.data[i * hw + p] >= 0.5 ? 255 : 0;
      total += (await encodePng(mask, maps.width, maps.height, 1)).length;
    }
    return total / n;
  } finally {
    r.close();
  }
}

/** Seconds per training epoch spent on maps, for N images: stored (read), on the fly (generate every epoch), on the fly with the in-memory cache (generate in epoch 1 only). */
export function mapCostPerEpoch(s: StoredMaps, trainImages: number, epochs: number): { strategy: string; 'first epoch s': number; 'later epochs s': number; 'total s': number }[] {
  const gen = trainImages / s.mapsPerSecond;
  const read = (s.readSeconds / s.images) * trainImages;
  return [
    { strategy: 'precomputed store (read each run)', 'first epoch s': read, 'later epochs s': 0, 'total s': read },
    { strategy: 'on the fly, cached in memory', 'first epoch s': gen, 'later epochs s': 0, 'total s': gen },
    { strategy: 'on the fly, every epoch', 'first epoch s': gen, 'later epochs s': gen, 'total s': gen * epochs },
  ];
}

/** The storage table of notebook 03: our one-file store vs one PNG mask per image (the paper's way). */
export function storedMapsRows(stored: readonly StoredMaps[], pngBytes: number, blockBytes = 4096): Record<string, string | number>[] {
  const mib = (b: number) => b / 2 ** 20;
  return stored.map((s) => ({
    dataset: s.dataset, images: s.images, 'maps/s': s.mapsPerSecond, 'generate s': s.generateSeconds, 'read all s': s.readSeconds,
    'store MiB': mib(s.fileBytes), 'store bytes/map': s.bytesPerMap,
    'PNG mask bytes/map': pngBytes,
    // each small file occupies at least one filesystem block
    'PNG files on disk MiB': mib(s.images * Math.max(blockBytes, Math.ceil(pngBytes / blockBytes) * blockBytes)),
    'store MiB, all 50,400': mib(s.bytesPerMap * 50400),
  }));
}
