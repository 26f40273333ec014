import { findIdx, readIdx } from '../idx';
import type { BaseSet, GrayImages } from '../types';
import { UserError } from '../../util/errors';

/** Loads one split (train or t10k) of an MNIST-layout folder of IDX files. */
function loadIdxPair(dir: string, prefix: 'train' | 't10k'): GrayImages {
  const imgFile = findIdx(dir, [`${prefix}-images-idx3-ubyte`, `${prefix}-images.idx3-ubyte`]);
  const lblFile = findIdx(dir, [`${prefix}-labels-idx1-ubyte`, `${prefix}-labels.idx1-ubyte`]);
  const img = readIdx(imgFile, { rank: 3 });
  const lbl = readIdx(lblFile, { rank: 1 });
  if (img.dims[0] !== lbl.dims[0]) {
    throw new UserError(`${imgFile} holds ${img.dims[0]} images but ${lblFile} holds ${lbl.dims[0]} labels`);
  }
  return { count: img.dims[0], height: img.dims[1], width: img.dims[2], images: img.data, labels: lbl.data };
}

/** A base set stored as the four MNIST-layout IDX files (plain or .gz) in one folder. */
export function loadIdxBaseSet(name: string, dir: string, classes: readonly string[]): BaseSet {
  const train = loadIdxPair(dir, 'train');
  const test = loadIdxPair(dir, 't10k');
  for (const [split, s] of [['train', train], ['test', test]] as const) {
    for (let i = 0; i < s.count; i++) {
      if (s.labels[i] >= classes.length) {
        throw new UserError(`${name} ${split} label ${s.labels[i]} at index ${i} is outside 0..${classes.length - 1}`);
      }
    }
  }
  return { name, classes, train, test };
}
