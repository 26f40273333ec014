import type { ImageSplit } from './types';

/** A split restricted to some images (copies), so helpers that take "the first n" can take any n. */
export function subsetSplit(split: ImageSplit, indices: ArrayLike<number>): ImageSplit {
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
