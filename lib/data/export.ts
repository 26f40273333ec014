import * as path from 'node:path';
import type { ImageSplit } from './types';
import { writePng } from '../util/png';

/** Writes the first `limit` images of a split as `{index}_{label}.png` (index within the split). */
export async function exportSplitPngs(split: ImageSplit, dir: string, limit = split.count): Promise<string[]> {
  const n = Math.min(limit, split.count);
  const { height: h, width: w, channels: c } = split;
  const files: string[] = [];
  for (let i = 0; i < n; i++) {
    const file = path.join(dir, `${i}_${split.labels[i]}.png`);
    await writePng(file, split.images.subarray(i * h * w * c, (i + 1) * h * w * c), w, h, c);
    files.push(file);
  }
  return files;
}
