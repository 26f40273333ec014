import type { ImageSplit, SplitName } from '../lib/data/types';

/**
 * A hand-made split for map tests: image i has a 3x3 "digit" at (2+i%4, 2+i%4) and, with
 * decoy=true, a 2x2 patch in the bottom-right corner. Grey images with the digit at 200.
 */
export function tinySplit(count = 6, opts: { size?: number; decoy?: boolean; split?: SplitName; channels?: 1 | 3 } = {}): ImageSplit {
  const size = opts.size ?? 12, hw = size * size, ch = opts.channels ?? 1;
  const images = new Uint8Array(count * hw * ch);
  const digitMasks = new Uint8Array(count * hw);
  const shortcutMasks = opts.decoy === false ? undefined : new Uint8Array(count * hw);
  for (let i = 0; i < count; i++) {
    const o = 2 + (i % 4);
    for (let y = o; y < o + 3; y++) for (let x = o; x < o + 3; x++) {
      digitMasks[i * hw + y * size + x] = 1;
      for (let c = 0; c < ch; c++) images[(i * hw + y * size + x) * ch + c] = 200;
    }
    if (shortcutMasks) for (let y = size - 2; y < size; y++) for (let x = size - 2; x < size; x++) {
      shortcutMasks[i * hw + y * size + x] = 1;
      for (let c = 0; c < ch; c++) images[(i * hw + y * size + x) * ch + c] = 255;
    }
  }
  return {
    split: opts.split ?? 'train', count, height: size, width: size, channels: ch, images,
    labels: new Uint8Array(count).map((_, i) => i % 10), digitMasks, shortcutMasks,
    sourceIndex: Int32Array.from({ length: count }, (_, i) => i),
  };
}
