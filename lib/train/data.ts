import type { ImageSplit } from '../data/types';
import { resizeBilinearRaw } from '../maps/postprocess';

/**
 * Images as the models read them, made once per split (not per step): uint8 HWC 28x28 ->
 * bilinear (half-pixel centres) to 32x32 -> scaled to [-1, 1] ((x/255 - 0.5)/0.5), grey images
 * expanded to 3 identical channels. For 28x28 models (CDEP's net) the 32x32 image is resized back
 * to 28x28, as docs/method.md section 3 describes. Layout [N, S, S, 3] float32 (12 KiB per image at 32).
 */
export function prepareImages(split: ImageSplit, count: number, size: number): Float32Array {
  const { height: h, width: w, channels: c } = split;
  const out = new Float32Array(count * size * size * 3);
  const chunk = 1024;
  for (let s = 0; s < count; s += chunk) {
    const n = Math.min(chunk, count - s);
    const src = split.images.subarray(s * h * w * c, (s + n) * h * w * c);
    // the affine map to [-1, 1] commutes with interpolation, so it is folded into the resize
    let img = resizeBilinearRaw(src, n, h, w, c, 32, 32, undefined, 2 / 255, -1);
    let cur = 32;
    if (size !== 32) { img = resizeBilinearRaw(img, n, 32, 32, c, size, size); cur = size; }
    const dst = out.subarray(s * size * size * 3, (s + n) * size * size * 3);
    if (c === 3) dst.set(img);
    else for (let p = 0; p < n * cur * cur; p++) { const v = img[p]; dst[3 * p] = v; dst[3 * p + 1] = v; dst[3 * p + 2] = v; }
  }
  return out;
}

/** Labels of the first `count` images as int32. */
export function prepareLabels(split: ImageSplit, count: number): Int32Array {
  return Int32Array.from(split.labels.subarray(0, count));
}

/**
 * RRR annotation masks on the model's input grid, [N, S, S]: the shortcut mask (decoy patch) resized
 * like the images; any pixel the patch touches after interpolation counts (value > 0 -> 1).
 */
export function prepareRrrMasks(split: ImageSplit, count: number, size: number): Float32Array | undefined {
  if (!split.shortcutMasks) return undefined;
  const { height: h, width: w } = split;
  let m = resizeBilinearRaw(split.shortcutMasks.subarray(0, count * h * w), count, h, w, 1, 32, 32);
  if (size !== 32) m = resizeBilinearRaw(m, count, 32, 32, 1, size, size);
  for (let i = 0; i < m.length; i++) m[i] = m[i] > 0 ? 1 : 0;
  return m;
}

/** Copies rows `indices` of a [N, rowLen] array into `out` (contiguous memcpy per row). */
export function gatherRows(src: Float32Array, rowLen: number, indices: ArrayLike<number>, out: Float32Array): Float32Array {
  for (let k = 0; k < indices.length; k++) out.set(src.subarray(indices[k] * rowLen, (indices[k] + 1) * rowLen), k * rowLen);
  return out;
}
