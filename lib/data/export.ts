import * as path from 'node:path';
import type { ImageSplit } from './types';
import { writePng } from '../util/png';
import { checkFilesOfKind, PNG_FILE } from '../util/outputs';

/**
 * Writes the first `limit` images of a split as `{index}_{label}.png` (index within the split). A file of one of those
 * names that is not a PNG stops it before anything is written (`flag` names the option in that message).
 */
export async function exportSplitPngs(split: ImageSplit, dir: string, limit = split.count, flag = '--export'): Promise<string[]> {
  const n = Math.min(limit, split.count);
  const { height: h, width: w, channels: c } = split;
  const name = (i: number) => `${i}_${split.labels[i]}.png`;
  checkFilesOfKind(dir, Array.from({ length: n }, (_, i) => name(i)), flag, PNG_FILE);
  const files: string[] = [];
  for (let i = 0; i < n; i++) {
    const file = path.join(dir, name(i));
    await writePng(file, split.images.subarray(i * h * w * c, (i + 1) * h * w * c), w, h, c);
    files.push(file);
  }
  return files;
}
