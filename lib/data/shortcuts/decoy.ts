import type { ShortcutRule } from '../types';

/** DecoyMNIST (CDEP variant used by the paper): 5x5 patch, corner offsets each from {0, size-5}. */
export const DECOY_SIZE = 5;

/** Patch intensity: train 255 - 25 y; test 25 y (so label 0's test patch is black). */
export function decoyIntensity(label: number, reversed: boolean): number {
  return reversed ? 25 * label : 255 - 25 * label;
}

export const decoyRule: ShortcutRule = {
  name: 'decoy',
  channels: 1,
  spatial: true,
  apply({ gray, height, width, label, reversed, rng, out, shortcutMask }) {
    out.set(gray);
    // Row and column offsets are drawn independently, row first (the order is part of the seed contract).
    const r0 = rng.int(2) === 0 ? 0 : height - DECOY_SIZE;
    const c0 = rng.int(2) === 0 ? 0 : width - DECOY_SIZE;
    const v = decoyIntensity(label, reversed);
    for (let r = r0; r < r0 + DECOY_SIZE; r++) {
      for (let c = c0; c < c0 + DECOY_SIZE; c++) {
        out[r * width + c] = v;
        if (shortcutMask) shortcutMask[r * width + c] = 1;
      }
    }
  },
};
