import type { ShortcutRule } from '../types';

/**
 * The HSL colour range of the python `colour` library (`Color(a).range_to(Color(b), n)`, which CDEP
 * used for ColorMNIST), in full double precision: both ends converted RGB -> HSL, each HSL component
 * interpolated linearly in n - 1 equal steps, each step converted back HSL -> RGB (easyrgb.com's
 * formulas, which that library implements). `from` and `to` are RGB in [0, 1].
 */
export function hslRange(from: readonly number[], to: readonly number[], n: number): Array<[number, number, number]> {
  const a = rgbToHsl(from), b = rgbToHsl(to);
  const steps = n - 1;
  const step = steps > 0 ? [0, 1, 2].map((i) => (b[i] - a[i]) / steps) : [0, 0, 0];
  return Array.from({ length: n }, (_, k) => hslToRgb([0, 1, 2].map((i) => a[i] + step[i] * k)));
}

function rgbToHsl([r, g, b]: readonly number[]): number[] {
  const lo = Math.min(r, g, b), hi = Math.max(r, g, b);
  const diff = hi - lo, sum = lo + hi, l = sum / 2;
  if (diff === 0) return [0, 0, l];
  const s = l < 0.5 ? diff / sum : diff / (2 - sum);
  const part = (v: number) => ((hi - v) / 6 + diff / 2) / diff;
  let h = r === hi ? part(b) - part(g) : g === hi ? 1 / 3 + part(r) - part(b) : 2 / 3 + part(g) - part(r);
  if (h < 0) h += 1;
  if (h > 1) h -= 1;
  return [h, s, l];
}

function hueToChannel(lo: number, hi: number, h: number): number {
  while (h < 0) h += 1;
  while (h > 1) h -= 1;
  if (6 * h < 1) return lo + (hi - lo) * 6 * h;
  if (2 * h < 1) return hi;
  if (3 * h < 2) return lo + (hi - lo) * (2 / 3 - h) * 6;
  return lo;
}

function hslToRgb([h, s, l]: readonly number[]): [number, number, number] {
  if (s === 0) return [l, l, l];
  const hi = l < 0.5 ? l * (1 + s) : l + s - s * l;
  const lo = 2 * l - hi;
  return [hueToChannel(lo, hi, h + 1 / 3), hueToChannel(lo, hi, h), hueToChannel(lo, hi, h - 1 / 3)];
}

/**
 * ColorMNIST's palette (CDEP): the HSL range from red (#ff0000) to purple (#800080) in 10 steps,
 * RGB in [0, 1], in full precision (no rounding). Index k is the colour of label k in training and
 * of label 9 - k in test.
 */
export const COLOR_PALETTE: readonly (readonly [number, number, number])[] = hslRange([1, 0, 0], [128 / 255, 0, 128 / 255], 10);

/** The colour index used for an image of `label` (train: k = y; test: k = 9 - y). */
export function colorIndex(label: number, reversed: boolean, classes = 10): number {
  return reversed ? classes - 1 - label : label;
}

/**
 * One coloured pixel channel as CDEP computes it: grey (0..255) times the palette value in double
 * precision, stored in a float32 array, then clipped to [0, 255] and truncated to uint8.
 */
export function colorChannel(gray: number, value: number): number {
  const v = Math.fround(gray * value);
  return v >= 255 ? 255 : v <= 0 ? 0 : Math.trunc(v);
}

/** pixel[c] = colorChannel(gray, rgb[k][c]); the background stays black. */
export const colorRule: ShortcutRule = {
  name: 'color',
  channels: 3,
  spatial: false,
  // Part of the dataset cache key: a cache built with another palette is never served.
  fingerprint: `hsl-range red..purple x10, float32 products: ${COLOR_PALETTE.map((c) => c.join(',')).join(';')}`,
  apply({ gray, label, reversed, out }) {
    const rgb = COLOR_PALETTE[colorIndex(label, reversed)];
    for (let i = 0; i < gray.length; i++) {
      const g = gray[i];
      for (let c = 0; c < 3; c++) out[3 * i + c] = colorChannel(g, rgb[c]);
    }
  },
};
