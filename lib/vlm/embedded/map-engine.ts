import * as tf from '@tensorflow/tfjs';
import { activeBackend } from '../../backend';
import type { ImageSplit } from '../../data/types';
import type { MapBatch } from '../../maps/types';
import { resizeBilinearRaw } from '../../maps/postprocess';
import { UserError } from '../../util/errors';
import { EncodePool } from './encode-pool';
import { encodeBlock, gatherBlock, type ImageBlock } from './image-block';
import type { VlmModel } from './model';
import { PatchCache } from './patch-cache';
import { TextEncoder } from './text-encoder';
import type { Vocabulary } from './tokenizer';

/** One prompt of a map request, with the background prompts it competes against. */
export interface ResolvedPrompt { prompt: string; background: string[] }

export interface MapEngineOptions {
  /** Images per block: per forward pass on this thread, and the unit of the patch cache. */
  batchSize: number;
  /** Worker threads that encode images (0: this thread only). Used on the wasm backend only. */
  workers: number;
  cache: PatchCache;
  /** The checkpoint's identity (keys the patch cache). */
  checkpoint: string;
  /** Requests with at least this many images to encode start the workers (default 128). */
  poolMinImages?: number;
  warn?: (msg: string) => void;
}

export interface MapEngineStats {
  /** Images encoded on this thread and by the workers. */
  encodedHere: number;
  encodedByWorkers: number;
  /** Blocks whose embeddings came from the patch cache. */
  cachedBlocks: number;
}

/** Whether the wasm backend runs its SIMD build (another build computes other floats); null if unknown. */
function wasmSimd(): boolean | null {
  try {
    return tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
  } catch {
    return null; // not evaluated yet
  }
}

/**
 * Upsamples grid maps [n, gh, gw] to [n, H, W] bilinearly with half-pixel centres (each grid cell's value
 * sits at its cell's centre; edges are clamped), the convention of tf.image.resizeBilinear with
 * halfPixelCenters. A 14x14 grid on 28x28 images: each cell is a 2x2 pixel block.
 */
export function upsampleBilinear(grid: Float32Array, n: number, gh: number, gw: number, H: number, W: number): Float32Array {
  return resizeBilinearRaw(grid, n, gh, gw, 1, H, W);
}

/** Blocks fetched ahead of the one being projected, so that the workers never wait for the main thread. */
const LOOKAHEAD = 2;

/**
 * Maps of any number of prompts from one encoding of the images. A map (generator.ts promptMaps) is the
 * prompt's share of a per-patch softmax over patch-text similarities; the image encoder, which costs ~99 %
 * of it, does not depend on the prompt. So: images go in blocks of `batchSize`; each block is encoded once
 * (or its embeddings come from the patch cache), on worker threads when there are any; then every prompt's
 * grid maps are model.gridMaps of the block's embeddings (read as column 0 of model.gridSoftmax, the same
 * kernels without gridMaps' final slice), and are upsampled as promptMaps does. The maps are promptMaps' maps bit for bit (test/vlm-map-engine.test.ts):
 * an image's patch embeddings, and each patch's map value, do not depend on the batch they are computed in.
 */
export class MapEngine {
  private pool?: EncodePool;
  private poolWarned = false;
  private readonly counts: MapEngineStats = { encodedHere: 0, encodedByWorkers: 0, cachedBlocks: 0 };

  constructor(private readonly model: VlmModel, private readonly vocab: Vocabulary, private readonly opts: MapEngineOptions) {}

  get stats(): MapEngineStats {
    return { ...this.counts };
  }

  get cache(): PatchCache {
    return this.opts.cache;
  }

  /** Worker threads images are encoded on (0 unless the backend is wasm). */
  get workers(): number {
    return this.usesWorkers ? this.opts.workers : 0;
  }

  /** Whether images are encoded on worker threads (the wasm backend and workers > 0). */
  get usesWorkers(): boolean {
    return this.opts.workers > 0 && activeBackend()?.name === 'wasm';
  }

  /** Starts the workers now and resolves whether they can be used (tests and benchmarks; requests start them on their own). */
  async startWorkers(): Promise<boolean> {
    const pool = this.workerPool();
    return pool ? pool.whenReady() : false;
  }

  /**
   * Maps of each prompt for the images `idx` of `split`, in request order: one MapBatch per prompt.
   * `temperature` divides the scaled similarities before the softmax.
   */
  async maps(split: ImageSplit, idx: ArrayLike<number>, prompts: ResolvedPrompt[], temperature: number, onProgress?: (done: number, total: number) => void): Promise<MapBatch[]> {
    const { height: H, width: W } = split;
    if (H % 2 || W % 2) throw new UserError(`the embedded VLM needs even image sizes, got ${H}x${W}`);
    if (prompts.some((p) => !p.background.length)) throw new UserError('the embedded VLM needs at least one background prompt');
    if (!(temperature > 0)) throw new UserError(`map temperature must be > 0, got ${temperature}`);
    const n = idx.length, bs = Math.max(1, this.opts.batchSize), gh = H / 2, gw = W / 2, D = this.model.config.image.jointDim;
    const grids = prompts.map(() => new Float32Array(n * gh * gw));
    const identity = this.identity();
    // Keys first (cheap: a hash of the image bytes), to know how much there is to encode; the embeddings
    // themselves are fetched or encoded a few blocks ahead of their use, so memory holds only those blocks.
    const blocks: Array<{ s: number; k: number; key: string }> = [];
    let toEncode = 0;
    for (let s = 0; s < n; s += bs) {
      const k = Math.min(bs, n - s);
      const key = PatchCache.key(identity, gatherBlock(split, Array.prototype.slice.call(idx, s, s + k) as number[]));
      if (!this.opts.cache.has(key)) toEncode += k;
      blocks.push({ s, k, key });
    }
    if (toEncode >= (this.opts.poolMinImages ?? 128)) this.workerPool()?.start();
    const pending: Array<{ fresh: boolean; patches: Promise<Float32Array> } | undefined> = [];
    const launch = (b: number) => {
      const { s, k, key } = blocks[b];
      const hit = this.opts.cache.get(key, [k, gh, gw, D]);
      const patches = hit ? Promise.resolve(hit) : this.encode(gatherBlock(split, Array.prototype.slice.call(idx, s, s + k) as number[]));
      patches.catch(() => undefined); // awaited below, in order; this keeps a failure ahead of the one awaited from being unhandled
      pending[b] = { fresh: !hit, patches };
    };
    const texts: Array<[tf.Tensor2D, tf.Tensor2D]> = tf.tidy(() => prompts.map((p): [tf.Tensor2D, tf.Tensor2D] => [
      this.model.encodeTexts(TextEncoder.bagOfTexts(this.vocab, [p.prompt], this.model.config.maxLen)),
      this.model.encodeTexts(TextEncoder.bagOfTexts(this.vocab, p.background, this.model.config.maxLen)),
    ]));
    try {
      for (let b = 0; b < blocks.length; b++) {
        // A turn of the event loop per block: the workers' messages (their start, their results) are
        // macrotasks, which a chain of resolved promises (blocks encoded on this thread) would never let run.
        await new Promise<void>((resolve) => setImmediate(resolve));
        for (let a = b; a < Math.min(blocks.length, b + 1 + LOOKAHEAD); a++) if (!pending[a]) launch(a);
        const { s, k, key } = blocks[b];
        const { fresh } = pending[b]!;
        const patches = await pending[b]!.patches;
        pending[b] = undefined;
        if (fresh) this.opts.cache.put(key, patches, [k, gh, gw, D], { checkpoint: this.opts.checkpoint, images: k, height: H, width: W });
        else this.counts.cachedBlocks++;
        const x = tf.tensor4d(patches, [k, gh, gw, D]);
        try {
          texts.forEach(([fg, bg], p) => {
            // model.gridMaps without its last slice: the map is column 0 of the softmax
            const m = this.model.gridSoftmax(x, fg, bg, temperature);
            const all = m.dataSync() as Float32Array;
            const K = m.shape[1], g = grids[p], at = s * gh * gw;
            m.dispose();
            for (let i = 0, j = 0; i < k * gh * gw; i++, j += K) g[at + i] = all[j];
          });
        } finally {
          x.dispose();
        }
        onProgress?.(s + k, n);
      }
    } finally {
      for (const pair of texts) for (const t of pair) t.dispose();
    }
    return grids.map((g) => ({ count: n, height: H, width: W, data: upsampleBilinear(g, n, gh, gw, H, W) }));
  }

  /** Stops the workers (restarted on demand) and forgets the memory tier of the patch cache. */
  dispose(): void {
    this.pool?.dispose();
    this.pool = undefined;
    this.opts.cache.clearMemory();
  }

  /** What determines the embeddings besides the images: the weights and the kernels that compute with them. */
  private identity(): Record<string, unknown> {
    const b = activeBackend();
    return {
      checkpoint: this.opts.checkpoint, backend: b?.name ?? tf.getBackend(), tfjs: tf.version_core, arch: process.arch,
      ...(tf.getBackend() === 'wasm' ? { wasmSimd: wasmSimd() } : {}),
    };
  }

  private workerPool(): EncodePool | undefined {
    if (!this.usesWorkers) return undefined;
    this.pool ??= new EncodePool(this.model, { workers: this.opts.workers });
    return this.pool;
  }

  private encode(block: ImageBlock): Promise<Float32Array> {
    const pool = this.usesWorkers ? this.pool : undefined;
    if (pool?.ready) {
      return pool.encode(block).then((p) => {
        this.counts.encodedByWorkers += block.count;
        return p;
      }, (e: Error) => {
        if (!this.poolWarned) this.opts.warn?.(`VLM encoding workers failed (${pool.brokenReason ?? e.message}); encoding on the main thread instead (same maps, slower)`);
        this.poolWarned = true;
        return this.encodeHere(block);
      });
    }
    if (pool?.brokenReason && !this.poolWarned) {
      this.opts.warn?.(`VLM encoding workers unavailable (${pool.brokenReason}); encoding on the main thread (same maps, slower)`);
      this.poolWarned = true;
    }
    try {
      return Promise.resolve(this.encodeHere(block));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  private encodeHere(block: ImageBlock): Float32Array {
    const p = encodeBlock(this.model, block);
    this.counts.encodedHere += block.count;
    return p;
  }
}
