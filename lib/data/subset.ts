import type { ImageSplit } from './types';
import { UserError } from '../util/errors';

/**
 * Indices of images of a split as an Int32Array (default: all, in order), each checked to be an integer in
 * 0..count-1 before conversion (Int32Array.from would turn 1.5 into 1 and NaN into 0); `what` names them in the
 * one-line error ("map index").
 */
export function splitIndices(split: Pick<ImageSplit, 'split' | 'count'>, indices?: ArrayLike<number>, what = 'index'): Int32Array {
  if (indices === undefined) return Int32Array.from({ length: split.count }, (_, i) => i);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    if (!(Number.isInteger(i) && i >= 0 && i < split.count)) throw new UserError(`${what} ${i} is outside the ${split.split} split (0..${split.count - 1})`);
  }
  return Int32Array.from(indices);
}

/** A split restricted to some images (copies), so helpers that take "the first n" can take any n. */
export function subsetSplit(split: ImageSplit, indices: ArrayLike<number>): ImageSplit {
  splitIndices(split, indices, 'image index');
  const hw = split.height * split.width;
  const n = indices.length;
  const px = hw * split.channels;
  const images = new Uint8Array(n * px);
  const labels = new Uint8Array(n);
  const digitMasks = new Uint8Array(n * hw);
  const shortcutMasks = split.shortcutMasks ? new Uint8Array(n * hw) : undefined;
  const sourceIndex = new Int32Array(n);
  for (let k = 0; k < n; k++) {
    const i = indices[k];
    images.set(split.images.subarray(i * px, (i + 1) * px), k * px);
    labels[k] = split.labels[i];
    digitMasks.set(split.digitMasks.subarray(i * hw, (i + 1) * hw), k * hw);
    shortcutMasks?.set(split.shortcutMasks!.subarray(i * hw, (i + 1) * hw), k * hw);
    sourceIndex[k] = split.sourceIndex[i];
  }
  return { ...split, count: n, images, labels, digitMasks, shortcutMasks, sourceIndex };
}
