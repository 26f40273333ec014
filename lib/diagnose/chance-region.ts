import type { Rng } from '../util/rng';

/**
 * The chance control of reliance (lib/diagnose/reliance.ts): the same redraw (from the same donor image) of a random
 * region of equal area. It says whether what the prompt names is more fragile than any place of its size; the ranking
 * uses the same-class control instead (lib/diagnose/verdict.ts says why). Which random region: the prompt's own region
 * of the image, translated by a uniformly random non-zero offset with wrap-around (a cyclic shift on the S x S grid).
 * Why this one:
 *  - equal area exactly (a cyclic shift loses no pixel at the border) and the same shape, so the chance redraw is the
 *    same kind of perturbation (a compact blob stays a blob, a frame-like band stays a band) and only its place is random;
 *  - over the draw every pixel is equally likely to be covered (each pixel is in the shifted region with probability
 *    area / S^2, up to the excluded zero shift), so the chance level is "this much of the image, anywhere";
 *  - the alternatives are worse: another image's region of the same prompt is in the same place for a fixed shortcut
 *    (a frame), so it would measure the prompt again; a random set of scattered pixels of the same count is salt-and-
 *    pepper noise, a different perturbation that CNNs react to differently.
 * An attribute's chance region is the set of pixels its recolouring changed, shifted the same way
 * (lib/diagnose/reliance.ts): the same number of pixels changed at a random place.
 */

/** Per image, a cyclic shift (dy, dx) uniform over the S^2 - 1 non-zero shifts of an S x S grid: [count * 2]. */
export function chanceOffsets(count: number, size: number, rng: Rng): Int32Array {
  const out = new Int32Array(count * 2);
  const hw = size * size;
  for (let i = 0; i < count; i++) {
    const k = 1 + rng.int(hw - 1);
    out[2 * i] = Math.floor(k / size);
    out[2 * i + 1] = k % size;
  }
  return out;
}

/** Writes the region `src[srcOffset .. + S^2)` shifted cyclically by (dy, dx) into `out[outOffset ..)` (as 0/1). */
export function translateRegion(src: ArrayLike<number>, srcOffset: number, size: number, dy: number, dx: number, out: Uint8Array, outOffset: number): void {
  for (let y = 0; y < size; y++) {
    const ty = (y + dy) % size;
    for (let x = 0; x < size; x++) {
      out[outOffset + ty * size + ((x + dx) % size)] = src[srcOffset + y * size + x] ? 1 : 0;
    }
  }
}
