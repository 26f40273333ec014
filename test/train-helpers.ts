import type { ShortcutDataset, ImageSplit } from '../lib/data/types';
import { loadDataset, subsetSplit } from '../lib/data';

/** A real shortcut dataset cut down to a few hundred images per split, for fast trainer tests. */
export function smallDataset(name = 'decoymnist', n = { train: 200, val: 100, test: 100 }): ShortcutDataset {
  const ds = loadDataset(name);
  const cut = (s: ImageSplit, count: number): ImageSplit => subsetSplit(s, Array.from({ length: count }, (_, i) => i));
  return { ...ds, train: cut(ds.train, n.train), val: cut(ds.val, n.val), test: cut(ds.test, n.test) };
}

/** Epoch records without timings (which legitimately differ between runs). */
export function numbersOnly(epochs: Array<Record<string, unknown>>): Array<Record<string, unknown>> {
  return epochs.map(({ seconds, evalSeconds, imagesPerSecond, ...rest }) => rest);
}
