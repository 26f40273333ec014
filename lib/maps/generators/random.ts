import type { MapBatch, MapGenerator, MapGeneratorIdentity, MapRequest } from '../types';
import { UserError } from '../../util/errors';
import { createRng } from '../../util/rng';
import { emptyBatch, progressTicker, requestIndices } from './common';

export interface RandomOptions {
  /**
   * 'blobs' (default): 1-3 isotropic Gaussian blobs per image, centres uniform over the image,
   * sigma uniform in [2, 5] px, weights in [0.5, 1], summed and scaled to max 1 -- a map that looks
   * like a VLM's (smooth, a few modes) but ignores the image. 'noise': i.i.d. uniform [0, 1) per pixel.
   */
  mode?: 'blobs' | 'noise';
  /** Seed used when the request gives none. */
  seed?: number;
}

/**
 * Control: random maps. Each map depends only on (seed, image index), not on which other indices
 * were requested or in which order, so on-the-fly generation and precomputed stores agree.
 */
export class RandomGenerator implements MapGenerator {
  readonly name = 'random';
  readonly usesPrompt = false;
  readonly mode: 'blobs' | 'noise';
  readonly seed: number;

  constructor(opts: RandomOptions = {}) {
    this.mode = opts.mode ?? 'blobs';
    if (this.mode !== 'blobs' && this.mode !== 'noise') throw new UserError(`random map mode must be 'blobs' or 'noise', not '${String(this.mode)}'`);
    this.seed = opts.seed ?? 0;
  }

  /** Its seed (a request's own seed overrides it: the maps of such a request are not identified by this). */
  identity(): MapGeneratorIdentity {
    return { id: { seed: this.seed }, background: [] };
  }

  async generate(req: MapRequest): Promise<MapBatch> {
    const { split } = req;
    const seed = req.seed ?? this.seed;
    const idx = requestIndices(req);
    const h = split.height, w = split.width, hw = h * w;
    const out = emptyBatch(idx.length, h, w);
    const tick = progressTicker(idx.length, req.onProgress, 1024);
    for (let k = 0; k < idx.length; k++) {
      const rng = createRng(`random-map:${this.mode}:${seed}:${idx[k]}`);
      const dst = out.data.subarray(k * hw, (k + 1) * hw);
      if (this.mode === 'noise') {
        for (let p = 0; p < hw; p++) dst[p] = rng.next();
      } else {
        const blobs = 1 + rng.int(3);
        for (let b = 0; b < blobs; b++) {
          const cy = rng.next() * (h - 1), cx = rng.next() * (w - 1);
          const sigma = 2 + 3 * rng.next();
          const weight = 0.5 + 0.5 * rng.next();
          const inv = 1 / (2 * sigma * sigma);
          for (let y = 0; y < h; y++) {
            const dy = (y - cy) * (y - cy);
            for (let x = 0; x < w; x++) dst[y * w + x] += weight * Math.exp(-(dy + (x - cx) * (x - cx)) * inv);
          }
        }
        let max = 0;
        for (let p = 0; p < hw; p++) if (dst[p] > max) max = dst[p];
        if (max > 0) for (let p = 0; p < hw; p++) dst[p] /= max;
      }
      tick(k + 1);
    }
    return out;
  }
}
