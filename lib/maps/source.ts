import * as fs from 'node:fs';
import type { ImageSplit } from '../data/types';
import type { MapBatch, MapGenerator } from './types';
import { UserError } from '../util/errors';
import { MapStoreReader, dequantizeMaps, quantizeMaps, writeMapStore, type MapStoreMeta } from './store';
import { requestIndices } from './generators/common';
import { canonicalJson } from '../util/canonical-json';

export interface MapSourceOptions {
  split: ImageSplit;
  /** Dataset name and checksum: recorded in / checked against the store file. */
  dataset: string;
  datasetChecksum: string;
  prompt: string;
  background?: string[];
  seed?: number;
  /**
   * Optional store file: maps already in it are used instead of generating them (after checking
   * dataset, split, generator, prompt and shape), and flush() writes every map made so far to it.
   */
  storeFile?: string;
  /** Images per generator call (default 256). */
  batchSize?: number;
  /** Extra provenance for the store header; a store file read back must hold the same (key order aside). */
  extra?: Record<string, unknown>;
}

export interface MapSourceStats {
  /** Maps produced by the generator in this session. */
  generated: number;
  /** Requests served from the memory cache (or the store file it was filled from). */
  hits: number;
  /** Maps held in memory. */
  cached: number;
  /** Seconds spent inside generator.generate. */
  generateSeconds: number;
  /** Generated maps per second of generator time (NaN before any generation). */
  mapsPerSecond: number;
  /** Bytes one map takes in memory and in the store (uint8, height x width). */
  bytesPerMap: number;
}

/**
 * Maps on demand: generates the maps of requested indices the first time they are asked for and
 * keeps them (quantised to uint8, as in the store, so a cached and a fresh map are identical),
 * so training can use a VLM's maps without a precomputing pass. Memory: height*width bytes per
 * image held (784 B for MNIST; the 50,400 training maps take 40 MB).
 */
export class CachedMapSource {
  readonly generator: MapGenerator;
  readonly split: ImageSplit;
  private readonly opts: MapSourceOptions;
  private bytes: Uint8Array;
  private readonly have: Uint8Array;
  private height: number;
  private width: number;
  private stats_ = { generated: 0, hits: 0, cached: 0, generateSeconds: 0 };
  private dirty = false;

  constructor(generator: MapGenerator, opts: MapSourceOptions) {
    this.generator = generator;
    this.split = opts.split;
    this.opts = opts;
    this.height = opts.split.height;
    this.width = opts.split.width;
    this.bytes = new Uint8Array(opts.split.count * this.height * this.width);
    this.have = new Uint8Array(opts.split.count);
    if (opts.storeFile && fs.existsSync(opts.storeFile)) this.loadStore(opts.storeFile);
  }

  private loadStore(file: string): void {
    const { split } = this.opts;
    const r = MapStoreReader.open(file, {
      dataset: this.opts.dataset, split: split.split, datasetChecksum: this.opts.datasetChecksum,
      height: split.height, width: split.width, generator: this.generator.name,
      ...(this.generator.usesPrompt ? { prompt: this.opts.prompt } : {}),
    });
    try {
      const bg = (this.opts.background ?? []).join('\u0000');
      if (this.generator.usesPrompt && r.header.background.join('\u0000') !== bg) {
        throw new UserError(`map file ${file} was made with background prompts ${JSON.stringify(r.header.background)}, not ${JSON.stringify(this.opts.background ?? [])}`);
      }
      if (r.header.seed !== undefined && this.opts.seed !== undefined && r.header.seed !== this.opts.seed) {
        throw new UserError(`map file ${file} was made with seed ${r.header.seed}, not ${this.opts.seed}`);
      }
      // Provenance the caller names (model folder, generator mode...) must match too: otherwise maps
      // of another model would be reused silently.
      if (this.opts.extra && canonicalJson(r.header.extra ?? {}) !== canonicalJson(this.opts.extra)) {
        throw new UserError(`map file ${file} was made with ${canonicalJson(r.header.extra ?? {})}, not ${canonicalJson(this.opts.extra)}`);
      }
      const all = r.readAllBytes();
      const hw = this.height * this.width;
      r.indices.forEach((s, k) => {
        if (s < 0 || s >= split.count) throw new UserError(`map file ${file} holds a map for index ${s}, outside the ${split.split} split`);
        this.bytes.set(all.subarray(k * hw, (k + 1) * hw), s * hw);
        if (!this.have[s]) { this.have[s] = 1; this.stats_.cached++; }
      });
    } finally {
      r.close();
    }
  }

  /** Maps of the given indices (default: all), generating the missing ones in batches. */
  async get(indices?: Int32Array | number[], onProgress?: (done: number, total: number) => void): Promise<MapBatch> {
    const idx = requestIndices({ split: this.split, indices });
    const hw = this.height * this.width;
    const missing: number[] = [];
    const seen = new Set<number>();
    for (const i of idx) if (!this.have[i] && !seen.has(i)) { missing.push(i); seen.add(i); }
    this.stats_.hits += idx.length - missing.length;
    const bs = Math.max(1, this.opts.batchSize ?? 256);
    for (let s = 0; s < missing.length; s += bs) {
      const chunk = missing.slice(s, s + bs);
      const t0 = performance.now();
      const batch = await this.generator.generate({
        split: this.split, indices: chunk, prompt: this.opts.prompt, background: this.opts.background, seed: this.opts.seed,
      });
      this.stats_.generateSeconds += (performance.now() - t0) / 1000;
      if (batch.count !== chunk.length || batch.height !== this.height || batch.width !== this.width) {
        throw new UserError(`generator '${this.generator.name}' returned ${batch.count} maps of ${batch.height}x${batch.width}, expected ${chunk.length} maps of ${this.height}x${this.width} (map of the wrong shape)`);
      }
      const q = quantizeMaps(batch.data);
      chunk.forEach((i, k) => {
        this.bytes.set(q.subarray(k * hw, (k + 1) * hw), i * hw);
        this.have[i] = 1;
      });
      this.stats_.generated += chunk.length;
      this.stats_.cached += chunk.length;
      this.dirty = true;
      onProgress?.(Math.min(s + bs, missing.length), missing.length);
    }
    const data = new Float32Array(idx.length * hw);
    for (let k = 0; k < idx.length; k++) dequantizeMaps(this.bytes.subarray(idx[k] * hw, (idx[k] + 1) * hw), data.subarray(k * hw, (k + 1) * hw));
    return { count: idx.length, height: this.height, width: this.width, data };
  }

  /**
   * Makes the missing maps of several sources of the same images (one generator, one split; typically one
   * source per prompt) in one pass when the generator has generatePrompts: each image is then encoded once
   * for all prompts instead of once per prompt. The maps are those get() would make, source by source; a
   * generator without generatePrompts fills each source in turn. Afterwards get() and flush() of each
   * source find the maps in memory.
   */
  static async fill(sources: CachedMapSource[], indices?: Int32Array | number[], onProgress?: (done: number, total: number) => void): Promise<void> {
    if (!sources.length) return;
    const { generator, split } = sources[0];
    if (sources.some((s) => s.generator !== generator || s.split !== split)) throw new Error('CachedMapSource.fill needs sources of one generator and one split');
    if (!generator.generatePrompts) {
      for (const s of sources) await s.get(indices);
      return;
    }
    const idx = requestIndices({ split, indices });
    const missing: number[] = [];
    const seen = new Uint8Array(split.count);
    for (const i of idx) {
      if (!seen[i] && sources.some((s) => !s.have[i])) missing.push(i);
      seen[i] = 1;
    }
    const hw = sources[0].height * sources[0].width;
    const bs = Math.max(1, sources[0].opts.batchSize ?? 256);
    // Maps of the sources that lack an image somewhere in a chunk (a source that has them all is not asked).
    for (let s = 0; s < missing.length; s += bs) {
      const chunk = missing.slice(s, s + bs);
      const asked = sources.filter((src) => chunk.some((i) => !src.have[i]));
      const t0 = performance.now();
      const batches = await generator.generatePrompts({ split, indices: chunk, seed: asked[0].opts.seed }, asked.map((src) => ({ prompt: src.opts.prompt, background: src.opts.background })));
      const seconds = (performance.now() - t0) / 1000;
      asked.forEach((src, p) => {
        const batch = batches[p];
        if (!batch || batch.count !== chunk.length || batch.height !== src.height || batch.width !== src.width) {
          throw new UserError(`generator '${generator.name}' returned maps of the wrong shape for prompt ${JSON.stringify(src.opts.prompt)} (expected ${chunk.length} maps of ${src.height}x${src.width})`);
        }
        const q = quantizeMaps(batch.data);
        let made = 0;
        chunk.forEach((i, k) => {
          if (src.have[i]) return;
          src.bytes.set(q.subarray(k * hw, (k + 1) * hw), i * hw);
          src.have[i] = 1;
          made++;
        });
        src.stats_.generated += made;
        src.stats_.cached += made;
        // the pass's time, shared among the prompts it served
        src.stats_.generateSeconds += seconds / asked.length;
        src.dirty = true;
      });
      onProgress?.(Math.min(s + bs, missing.length), missing.length);
    }
  }

  /** Whether the map of this index is cached. */
  has(index: number): boolean {
    return this.have[index] === 1;
  }

  get stats(): MapSourceStats {
    const s = this.stats_;
    return { ...s, mapsPerSecond: s.generateSeconds > 0 ? s.generated / s.generateSeconds : NaN, bytesPerMap: this.height * this.width };
  }

  /** The store header fields this source writes. */
  meta(): MapStoreMeta {
    return {
      dataset: this.opts.dataset, split: this.split.split, generator: this.generator.name,
      prompt: this.generator.usesPrompt ? this.opts.prompt : '', background: this.generator.usesPrompt ? (this.opts.background ?? []) : [],
      datasetChecksum: this.opts.datasetChecksum,
      ...(this.opts.seed !== undefined ? { seed: this.opts.seed } : {}),
      ...(this.opts.extra ? { extra: this.opts.extra } : {}),
    };
  }

  /**
   * Writes every cached map to the store file (atomically). A cache holding exactly images
   * 0..n-1 writes a plain file; any other subset writes an indexed one.
   */
  flush(file = this.opts.storeFile): string | undefined {
    if (!file || (!this.dirty && file === this.opts.storeFile && fs.existsSync(file))) return undefined;
    const hw = this.height * this.width;
    const idx: number[] = [];
    for (let i = 0; i < this.have.length; i++) if (this.have[i]) idx.push(i);
    const prefix = idx.length === 0 || idx[idx.length - 1] === idx.length - 1;
    // A prefix is already contiguous in the cache: no gathered copy (40 MB for the training split).
    const bytes = prefix ? this.bytes.subarray(0, idx.length * hw) : new Uint8Array(idx.length * hw);
    if (!prefix) idx.forEach((i, k) => bytes.set(this.bytes.subarray(i * hw, (i + 1) * hw), k * hw));
    writeMapStore(file, this.meta(), { count: idx.length, height: this.height, width: this.width, bytes }, prefix ? undefined : Int32Array.from(idx));
    if (file === this.opts.storeFile) this.dirty = false;
    return file;
  }
}
