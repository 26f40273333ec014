import type { MapBatch, MapRequest } from '../types';
import { UserError } from '../../util/errors';

/** The requested indices as an Int32Array, validated against the split (default: all, in order). */
export function requestIndices(req: Pick<MapRequest, 'split' | 'indices'>): Int32Array {
  const { split } = req;
  if (req.indices === undefined) {
    const all = new Int32Array(split.count);
    for (let i = 0; i < split.count; i++) all[i] = i;
    return all;
  }
  const idx = Int32Array.from(req.indices);
  for (const i of idx) {
    if (!(Number.isInteger(i) && i >= 0 && i < split.count)) {
      throw new UserError(`map index ${i} is outside the ${split.split} split (0..${split.count - 1})`);
    }
  }
  return idx;
}

export function emptyBatch(count: number, height: number, width: number): MapBatch {
  return { count, height, width, data: new Float32Array(count * height * width) };
}

/** Calls onProgress every `every` maps and at the end, so progress bars do not dominate the run. */
export function progressTicker(total: number, onProgress?: (done: number, total: number) => void, every = 256) {
  return (done: number) => {
    if (onProgress && (done === total || done % every === 0)) onProgress(done, total);
  };
}
