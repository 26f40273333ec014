import type { MapBatch } from './types';
import { UserError } from '../util/errors';
import { squareExtreme } from './morphology';

/**
 * Map post-processing as composable steps: each step takes a MapBatch (count x height x width,
 * float32) and returns a new one. The paper's chain (docs/method.md section 4) is built from them by
 * paperChain(). Every step mirrors the PyTorch operation the paper's code uses (docs/method.md section 4),
 * so our targets equal the reference's bit for bit up to float rounding:
 *   threshold      -> (m > t)
 *   dilate(k)      -> F.max_pool2d(m, k, 1, k//2)            (window clipped at the border)
 *   erode(k)       -> -F.max_pool2d(-m, k, 1, k//2)
 *   morphGradient  -> dilate(k) - erode(k)
 *   resizeBilinear -> F.interpolate(mode='bilinear', align_corners=False)  (half-pixel centres)
 *   resizeNearest  -> F.interpolate(mode='nearest')                         (src = floor(dst*in/out))
 *   scaleClamp     -> clamp(m * s, 0, 1)
 *   normalise      -> m / (sum + 1e-8)
 */
export type MapStep = (m: MapBatch) => MapBatch;

function like(m: MapBatch, height = m.height, width = m.width): MapBatch {
  return { count: m.count, height, width, data: new Float32Array(m.count * height * width) };
}

/** Applies steps left to right. */
export function compose(...steps: MapStep[]): MapStep {
  return (m) => steps.reduce((acc, s) => s(acc), m);
}

/** The raw map, unchanged (e.g. a VLM's probability map used directly). */
export const identity: MapStep = (m) => m;

/** 1 where the value is above t, else 0. */
export function threshold(t = 0.5): MapStep {
  return (m) => {
    const out = like(m);
    for (let i = 0; i < m.data.length; i++) out.data[i] = m.data[i] > t ? 1 : 0;
    return out;
  };
}

/** Max (or min) over a k x k window centred on each pixel, the window clipped at the border. */
function windowExtreme(k: number, useMax: boolean): MapStep {
  if (!(Number.isInteger(k) && k >= 1 && k % 2 === 1)) throw new UserError(`morphology window must be an odd positive integer, not ${k}`);
  const r = (k - 1) / 2;
  return (m) => {
    const { height: h, width: w } = m;
    const out = like(m);
    const tmp = new Float32Array(h * w);
    for (let n = 0; n < m.count; n++) {
      squareExtreme(m.data.subarray(n * h * w, (n + 1) * h * w), out.data.subarray(n * h * w, (n + 1) * h * w), h, w, r, useMax, tmp);
    }
    return out;
  };
}

/** Grey dilation with a k x k square. */
export function dilate(k = 7): MapStep {
  return windowExtreme(k, true);
}

/** Grey erosion with a k x k square. */
export function erode(k = 3): MapStep {
  return windowExtreme(k, false);
}

/** Morphological gradient (dilation minus erosion, k x k): an outline band around shapes. */
export function morphGradient(k = 3): MapStep {
  const d = dilate(k), e = erode(k);
  return (m) => {
    const a = d(m), b = e(m);
    for (let i = 0; i < a.data.length; i++) a.data[i] -= b.data[i];
    return a;
  };
}

/** Per axis: for each output index, the two source indices and the weight of the second. */
function bilinearAxis(inSize: number, outSize: number): { i0: Int32Array; i1: Int32Array; f: Float32Array } {
  const scale = inSize / outSize;
  const i0 = new Int32Array(outSize), i1 = new Int32Array(outSize), f = new Float32Array(outSize);
  for (let o = 0; o < outSize; o++) {
    const src = Math.max((o + 0.5) * scale - 0.5, 0);
    const a = Math.min(Math.floor(src), inSize - 1);
    i0[o] = a;
    i1[o] = Math.min(a + 1, inSize - 1);
    f[o] = src - a;
  }
  return { i0, i1, f };
}

/**
 * Bilinear resize with half-pixel centres and no antialiasing (PyTorch align_corners=False,
 * tf.image.resizeBilinear halfPixelCenters=true). Also used to resize images (any channel count
 * via `channels`, HWC layout).
 */
export function resizeBilinearRaw(src: Float32Array | Uint8Array, count: number, h: number, w: number, c: number, oh: number, ow: number, out: Float32Array = new Float32Array(count * oh * ow * c), scale = 1, offset = 0): Float32Array {
  const ay = bilinearAxis(h, oh), ax = bilinearAxis(w, ow);
  for (let n = 0; n < count; n++) {
    const sb = n * h * w * c, db = n * oh * ow * c;
    for (let y = 0; y < oh; y++) {
      const r0 = sb + ay.i0[y] * w * c, r1 = sb + ay.i1[y] * w * c, fy = ay.f[y];
      for (let x = 0; x < ow; x++) {
        const c0 = ax.i0[x] * c, c1 = ax.i1[x] * c, fx = ax.f[x];
        for (let k = 0; k < c; k++) {
          const top = src[r0 + c0 + k] + (src[r0 + c1 + k] - src[r0 + c0 + k]) * fx;
          const bot = src[r1 + c0 + k] + (src[r1 + c1 + k] - src[r1 + c0 + k]) * fx;
          out[db + (y * ow + x) * c + k] = (top + (bot - top) * fy) * scale + offset;
        }
      }
    }
  }
  return out;
}

export function resizeBilinear(height: number, width: number): MapStep {
  return (m) => {
    const out = like(m, height, width);
    resizeBilinearRaw(m.data, m.count, m.height, m.width, 1, height, width, out.data);
    return out;
  };
}

/** Nearest-neighbour resize, PyTorch 'nearest': source index floor(dst * in / out). */
export function resizeNearest(height: number, width: number): MapStep {
  return (m) => {
    const out = like(m, height, width);
    const sy = m.height / height, sx = m.width / width;
    const iy = Int32Array.from({ length: height }, (_, y) => Math.min(Math.floor(y * sy), m.height - 1));
    const ix = Int32Array.from({ length: width }, (_, x) => Math.min(Math.floor(x * sx), m.width - 1));
    for (let n = 0; n < m.count; n++) {
      const sb = n * m.height * m.width, db = n * height * width;
      for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) out.data[db + y * width + x] = m.data[sb + iy[y] * m.width + ix[x]];
    }
    return out;
  };
}

/** Area (box) resize: each output cell is the mean of the input area it covers (exact for any ratio). */
export function resizeArea(height: number, width: number): MapStep {
  return (m) => {
    const out = like(m, height, width);
    const wy = areaWeights(m.height, height), wx = areaWeights(m.width, width);
    for (let n = 0; n < m.count; n++) {
      const sb = n * m.height * m.width, db = n * height * width;
      for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) {
        let s = 0;
        for (const [iy, vy] of wy[y]) for (const [ix, vx] of wx[x]) s += vy * vx * m.data[sb + iy * m.width + ix];
        out.data[db + y * width + x] = s;
      }
    }
    return out;
  };
}

/** For each output index, the (input index, weight) pairs of the area it covers; weights sum to 1. */
export function areaWeights(inSize: number, outSize: number): Array<Array<[number, number]>> {
  const scale = inSize / outSize;
  const res: Array<Array<[number, number]>> = [];
  for (let o = 0; o < outSize; o++) {
    const a = o * scale, b = (o + 1) * scale;
    const row: Array<[number, number]> = [];
    for (let i = Math.floor(a); i < Math.min(Math.ceil(b), inSize); i++) {
      const ov = Math.min(b, i + 1) - Math.max(a, i);
      if (ov > 1e-12) row.push([i, ov / scale]);
    }
    res.push(row);
  }
  return res;
}

/** clamp(m * s, 0, 1). */
export function scaleClamp(s = 8): MapStep {
  return (m) => {
    const out = like(m);
    for (let i = 0; i < m.data.length; i++) out.data[i] = Math.min(1, Math.max(0, m.data[i] * s));
    return out;
  };
}

/** Each map divided by (its sum + eps): a distribution (an all-zero map stays all zero: its KL term is 0). */
export function normalise(eps = 1e-8): MapStep {
  return (m) => {
    const out = like(m);
    const hw = m.height * m.width;
    for (let n = 0; n < m.count; n++) {
      let s = 0;
      for (let p = 0; p < hw; p++) s += m.data[n * hw + p];
      const inv = 1 / (s + eps);
      for (let p = 0; p < hw; p++) out.data[n * hw + p] = m.data[n * hw + p] * inv;
    }
    return out;
  };
}

export interface PaperChainOptions {
  /** Binarisation threshold on the raw map (default 0.5; oracle masks are 0/1). */
  threshold?: number;
  /** Dilation window (7). */
  dilate?: number;
  /** Morphological-gradient window (3). */
  gradient?: number;
  /** The model's input size the band is resized to first (32). */
  inputSize?: number;
  /** Gain before clamping to [0, 1] (8). */
  gain?: number;
  /** The model's attention grid (10 x 10 for LeNet-GAP). */
  grid?: { height: number; width: number };
}

/**
 * The paper's target chain (docs/method.md section 4): threshold -> 7x7 dilation -> 3x3 morphological
 * gradient -> bilinear to 32x32 -> x8 and clamp to [0, 1] -> nearest to the grid -> sum to 1.
 */
export function paperChain(o: PaperChainOptions = {}): MapStep {
  const size = o.inputSize ?? 32;
  const grid = o.grid ?? { height: 10, width: 10 };
  return compose(
    threshold(o.threshold ?? 0.5),
    dilate(o.dilate ?? 7),
    morphGradient(o.gradient ?? 3),
    resizeBilinear(size, size),
    scaleClamp(o.gain ?? 8),
    resizeNearest(grid.height, grid.width),
    normalise(),
  );
}

/**
 * The raw probability map as the target, without the outline band: area-resize to the grid and
 * sum-normalise (for maps that are already soft, e.g. uniform or a VLM's probabilities).
 */
export function rawChain(o: { grid?: { height: number; width: number } } = {}): MapStep {
  const grid = o.grid ?? { height: 10, width: 10 };
  return compose(resizeArea(grid.height, grid.width), normalise());
}

/** Post-processing by name, for configs and CLIs: 'paper' | 'raw'. */
export type PostprocessName = 'paper' | 'raw';

export function buildPostprocess(name: PostprocessName, o: PaperChainOptions = {}): MapStep {
  if (name === 'paper') return paperChain(o);
  if (name === 'raw') return rawChain(o);
  throw new UserError(`unknown map post-processing '${String(name)}': use paper or raw`);
}
