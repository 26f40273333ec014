import * as tf from '@tensorflow/tfjs';
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

/**
 * The autodiff gradient and the central finite difference of `loss` at chosen elements of the variables, each given as
 * [variable index, flat element index, step]; every variable is restored after its differences.
 */
export function gradientChecks(vars: readonly tf.Variable[], grads: tf.NamedTensorMap, loss: () => number,
  points: ReadonlyArray<readonly [number, number, number]>): Array<{ pi: number; i: number; g: number; fd: number }> {
  return points.map(([pi, i, h]) => {
    const v = vars[pi];
    const g = grads[v.name].dataSync()[i];
    const base = v.dataSync().slice() as Float32Array;
    const at = (d: number) => { const a = base.slice(); a[i] += d; v.assign(tf.tensor(a, v.shape)); return loss(); };
    const fd = (at(h) - at(-h)) / (2 * h);
    v.assign(tf.tensor(base, v.shape));
    return { pi, i, g, fd };
  });
}
