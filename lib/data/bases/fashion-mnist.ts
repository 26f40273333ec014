import type { BaseSet } from '../types';
import { loadIdxBaseSet } from './idx-base';

export const FASHION_CLASSES = [
  't-shirt', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'ankle boot',
] as const;

/** Debian's dataset-fashion-mnist package installs the gzipped IDX files here. */
export const DEBIAN_FASHION_DIR = '/usr/share/datasets/fashion-mnist';

export function fashionDir(dir?: string): string {
  return dir ?? process.env.LTL_FASHION_DIR ?? DEBIAN_FASHION_DIR;
}

export function loadFashionMnist(dir?: string): BaseSet {
  return loadIdxBaseSet('fashion-mnist', fashionDir(dir), FASHION_CLASSES);
}
