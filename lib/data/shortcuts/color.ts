import type { ShortcutRule } from '../types';

/**
 * ColorMNIST's palette (CDEP): the colour library's HSL range from red to purple in 10 steps,
 * RGB in [0, 1]. Index k is the colour of label k in training and of label 9 - k in test.
 */
export const COLOR_PALETTE: readonly (readonly [number, number, number])[] = [
  [1.0, 0, 0],
  [0.9447, 0.5248, 0],
  [0.7905, 0.8893, 0],
  [0.278, 0.834, 0],
  [0, 0.7786, 0.173],
  [0, 0.7233, 0.5626],
  [0, 0.4453, 0.668],
  [0, 0.0681, 0.6126],
  [0.2477, 0, 0.5573],
  [0.502, 0, 0.502],
];

/** The colour index used for an image of `label` (train: k = y; test: k = 9 - y). */
export function colorIndex(label: number, reversed: boolean, classes = 10): number {
  return reversed ? classes - 1 - label : label;
}

/** pixel[c] = clip(gray * rgb[k][c], 0, 255), truncated to uint8; background stays black. */
export const colorRule: ShortcutRule = {
  name: 'color',
  channels: 3,
  spatial: false,
  apply({ gray, label, reversed, out }) {
    const rgb = COLOR_PALETTE[colorIndex(label, reversed)];
    for (let i = 0; i < gray.length; i++) {
      const g = gray[i];
      for (let c = 0; c < 3; c++) {
        const v = g * rgb[c];
        out[3 * i + c] = v >= 255 ? 255 : v <= 0 ? 0 : Math.trunc(v);
      }
    }
  },
};
