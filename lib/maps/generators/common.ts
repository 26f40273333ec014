import type { MapBatch, MapRequest } from '../types';
import { splitIndices } from '../../data/subset';

/** The requested indices as an Int32Array, validated against the split (default: all, in order). */
export function requestIndices(req: Pick<MapRequest, 'split' | 'indices'>): Int32Array {
  return splitIndices(req.split, req.indices, 'map index');
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
