/**
 * Square-window grey morphology on one image: the one max/min filter behind map dilation and erosion
 * (postprocess.ts: dilate, erode, morphGradient; the prompt masks of lib/train/prompt-constraint.ts) and
 * the dilated digit masks of the map-quality metrics (quality.ts) and saliency summaries (report/saliency.ts).
 */

/** A typed array of pixel values: float maps or 0/1 masks. */
type Pixels = Float32Array | Uint8Array;

/**
 * Max (useMax) or min over the (2r+1) x (2r+1) square centred on each pixel of an h x w image, the window
 * clipped at the border (PyTorch's max_pool2d(k, 1, k//2) with k = 2r+1). Separable: rows, then columns (the
 * extreme of a rectangle is the extreme of its rows' extremes); `tmp` holds the row pass.
 */
export function squareExtreme(src: Pixels, dst: Pixels, h: number, w: number, r: number, useMax: boolean, tmp: Pixels = new Float32Array(h * w)): void {
  extremeAlong(src, tmp, h, w, w, 1, r, useMax);
  extremeAlong(tmp, dst, w, h, 1, w, r, useMax);
}

/**
 * Max (or min) over a window of radius r along `lines` lines of `len` values each, the window
 * clipped at the ends; value i of line l sits at l * lineStride + i * step (rows: w, 1; columns: 1, w).
 */
function extremeAlong(src: Pixels, dst: Pixels, lines: number, len: number, lineStride: number, step: number, r: number, useMax: boolean): void {
  for (let l = 0; l < lines; l++) {
    const base = l * lineStride;
    for (let i = 0; i < len; i++) {
      let v = useMax ? -Infinity : Infinity;
      for (let j = Math.max(0, i - r); j <= Math.min(len - 1, i + r); j++) {
        const s = src[base + j * step];
        v = useMax ? (s > v ? s : v) : (s < v ? s : v);
      }
      dst[base + i * step] = v;
    }
  }
}

/** Square (Chebyshev) dilation of a 0/1 mask by radius r: 1 wherever a non-zero pixel lies within r. */
export function dilateMask(mask: Uint8Array, height: number, width: number, r: number, out = new Uint8Array(mask.length), tmp = new Uint8Array(mask.length)): Uint8Array {
  squareExtreme(mask, out, height, width, Math.max(0, r), true, tmp);
  for (let i = 0; i < height * width; i++) out[i] = out[i] ? 1 : 0;
  return out;
}
