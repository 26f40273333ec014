import type { ImageSplit } from '../data/types';
import { COLOR_PALETTE } from '../data/shortcuts/color';

/**
 * Shortcut statistics for notebook 01: for each image, the value of its shortcut feature (which
 * palette colour, or which decoy-patch intensity), and how well a lookup table from that feature
 * alone predicts the label. The label-vs-feature matrix makes the shortcut visible: diagonal in
 * training, reversed in test.
 */
export interface ShortcutStats {
  /** Names of the feature's values (columns of `counts`). */
  featureNames: string[];
  /** counts[label][feature] over the images looked at. */
  counts: number[][];
  /** Feature value per image (-1 when the image has none, e.g. an all-black digit). */
  feature: Int16Array;
}

/** The palette index nearest to the mean chromaticity of the object's pixels (-1 if no object pixels). */
export function colorFeature(split: ImageSplit, i: number): number {
  const hw = split.height * split.width;
  if (split.channels !== 3) return -1;
  let r = 0, g = 0, b = 0, n = 0;
  for (let p = 0; p < hw; p++) {
    if (!split.digitMasks[i * hw + p]) continue;
    const o = (i * hw + p) * 3;
    r += split.images[o]; g += split.images[o + 1]; b += split.images[o + 2];
    n++;
  }
  if (n === 0 || r + g + b === 0) return -1;
  // Compare directions (chromaticity), not brightness: a faint stroke has the same colour.
  const norm = Math.hypot(r, g, b);
  let best = -1;
  let bestCos = -Infinity;
  COLOR_PALETTE.forEach(([pr, pg, pb], k) => {
    const cos = (r * pr + g * pg + b * pb) / (norm * Math.hypot(pr, pg, pb));
    if (cos > bestCos) { bestCos = cos; best = k; }
  });
  return best;
}

/** The decoy patch's grey value in steps of 25 (0..10), or -1 when the split has no patch masks. */
export function patchFeature(split: ImageSplit, i: number): number {
  const hw = split.height * split.width;
  const m = split.shortcutMasks;
  if (!m) return -1;
  let s = 0, n = 0;
  for (let p = 0; p < hw; p++) {
    if (!m[i * hw + p]) continue;
    s += split.images[(i * hw + p) * split.channels];
    n++;
  }
  return n ? Math.round(s / n / 25) : -1;
}

/** Statistics of the first `limit` images of a split; the feature is chosen by the split's kind. */
export function shortcutStats(split: ImageSplit, limit = split.count, classes = 10): ShortcutStats {
  const n = Math.min(limit, split.count);
  const isColor = split.channels === 3;
  const featureNames = isColor ? COLOR_PALETTE.map((_, k) => `colour ${k}`) : Array.from({ length: 11 }, (_, k) => `grey ${k * 25}`);
  const counts = Array.from({ length: classes }, () => new Array(featureNames.length).fill(0));
  const feature = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    const f = isColor ? colorFeature(split, i) : patchFeature(split, i);
    feature[i] = f;
    if (f >= 0) counts[split.labels[i]][f]++;
  }
  return { featureNames, counts, feature };
}

/** The label a lookup table learned on `train` predicts for each feature value (majority vote). */
export function fitLookup(train: ShortcutStats): Int16Array {
  const nf = train.featureNames.length;
  const table = new Int16Array(nf).fill(-1);
  for (let f = 0; f < nf; f++) {
    let best = -1, bestN = 0;
    train.counts.forEach((row, y) => { if (row[f] > bestN) { bestN = row[f]; best = y; } });
    table[f] = best;
  }
  return table;
}

/** Accuracy of a feature->label lookup on a split's statistics: how far the shortcut alone gets. */
export function lookupAccuracy(table: Int16Array, stats: ShortcutStats, labels: Uint8Array): number {
  let ok = 0;
  for (let i = 0; i < stats.feature.length; i++) if (stats.feature[i] >= 0 && table[stats.feature[i]] === labels[i]) ok++;
  return stats.feature.length ? ok / stats.feature.length : NaN;
}

/** Label-vs-shortcut heatmap data for a split, plus the feature lookup's accuracy on train/val/test. */
export function shortcutSummary(ds: { name: string; train: ImageSplit; val: ImageSplit; test: ImageSplit }, limit: number): {
  train: ShortcutStats; test: ShortcutStats;
  row: { dataset: string; 'shortcut lookup, train %': number; 'val %': number; 'test %': number };
} {
  const train = shortcutStats(ds.train, limit);
  const val = shortcutStats(ds.val, limit);
  const test = shortcutStats(ds.test, limit);
  const table = fitLookup(train);
  const pct = (s: ShortcutStats, sp: ImageSplit) => 100 * lookupAccuracy(table, s, sp.labels);
  return { train, test, row: { dataset: ds.name, 'shortcut lookup, train %': pct(train, ds.train), 'val %': pct(val, ds.val), 'test %': pct(test, ds.test) } };
}
