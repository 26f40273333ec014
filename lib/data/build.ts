import type { BaseSet, GrayImages, ImageSplit, ShortcutDataset, ShortcutRule, SplitName } from './types';
import { getBaseSetLoader, getShortcut, resolveDataset } from './registry';
import { createRng, permutation, type Rng } from '../util/rng';
import { sha256 } from '../util/hash';
import { UserError } from '../util/errors';
import { loadCached, saveCached } from './cache';
import type { DatasetOptions } from './types';

export type { DatasetOptions } from './types';

export const DEFAULT_DATA_SEED = 37;
export const DEFAULT_VAL_SIZE = 9600;
/** The digit mask is the set of pixels brighter than this grey value. */
export const DIGIT_THRESHOLD = 10;
/** Labels a random shortcut label is drawn from (both base sets have ten classes; a rule's codes cover ten). */
const CLASSES_DRAWN = 10;

/** Applies a shortcut rule to chosen images of a grey split. */
export function applyShortcut(
  split: SplitName,
  src: GrayImages,
  indices: Int32Array,
  rule: ShortcutRule,
  reversed: boolean,
  rng: Rng,
  /** Draws the label the shortcut encodes instead of the image's own (the clean reference); its own stream, so the
   * rule's draws (decoy positions) stay those of the published dataset. */
  shortcutLabel?: Rng,
): ImageSplit {
  const { height, width } = src;
  const hw = height * width;
  const n = indices.length;
  const ch = rule.channels;
  const images = new Uint8Array(n * hw * ch);
  const labels = new Uint8Array(n);
  const digitMasks = new Uint8Array(n * hw);
  const shortcutMasks = rule.spatial ? new Uint8Array(n * hw) : undefined;
  for (let i = 0; i < n; i++) {
    const j = indices[i];
    const gray = src.images.subarray(j * hw, (j + 1) * hw);
    const label = src.labels[j];
    labels[i] = label;
    for (let p = 0; p < hw; p++) digitMasks[i * hw + p] = gray[p] > DIGIT_THRESHOLD ? 1 : 0;
    rule.apply({
      gray, height, width, label: shortcutLabel ? shortcutLabel.int(CLASSES_DRAWN) : label, reversed, rng,
      out: images.subarray(i * hw * ch, (i + 1) * hw * ch),
      shortcutMask: shortcutMasks?.subarray(i * hw, (i + 1) * hw),
    });
  }
  return { split, count: n, height, width, channels: ch, images, labels, digitMasks, shortcutMasks, sourceIndex: indices };
}

/** Deterministic train/val partition of the base training set: sorted indices, so "first N" is stable. */
export function trainValIndices(total: number, valSize: number, seed: number): { train: Int32Array; val: Int32Array } {
  if (valSize < 0 || valSize >= total) throw new UserError(`validation size ${valSize} must be in [0, ${total})`);
  const perm = permutation(total, createRng(`split:${seed}`));
  const val = perm.slice(0, valSize).sort();
  const train = perm.slice(valSize).sort();
  return { train, val };
}

function range(n: number): Int32Array {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  return a;
}

export function datasetChecksum(splits: ImageSplit[]): string {
  return sha256(...splits.flatMap((s) => [s.images, s.labels]));
}

/** Builds a shortcut dataset from a loaded base set (no I/O). */
export function buildFromBase(name: string, base: BaseSet, rule: ShortcutRule, opts: DatasetOptions = {}): ShortcutDataset {
  const seed = opts.seed ?? DEFAULT_DATA_SEED;
  const valSize = opts.valSize ?? DEFAULT_VAL_SIZE;
  const shortcutLabels = opts.shortcutLabels ?? 'class';
  if (shortcutLabels !== 'class' && shortcutLabels !== 'random') throw new UserError(`shortcut labels must be 'class' or 'random', not '${String(shortcutLabels)}'`);
  const { train: trIdx, val: vaIdx } = trainValIndices(base.train.count, valSize, seed);
  // One independent stream per split, so changing the validation size does not move test patches.
  const drawn = (split: SplitName) => (shortcutLabels === 'random' ? createRng(`${name}:${split}:shortcut-labels:${seed}`) : undefined);
  const train = applyShortcut('train', base.train, trIdx, rule, false, createRng(`${name}:train:${seed}`), drawn('train'));
  const val = applyShortcut('val', base.train, vaIdx, rule, false, createRng(`${name}:val:${seed}`), drawn('val'));
  const test = applyShortcut('test', base.test, range(base.test.count), rule, true, createRng(`${name}:test:${seed}`));
  return {
    name, base: base.name, shortcut: rule.name, classes: base.classes, seed,
    ...(shortcutLabels === 'random' ? { shortcutLabels } : {}),
    train, val, test, checksum: datasetChecksum([train, val, test]),
  };
}

/** Loads the base set and builds the named dataset (`colormnist`, `decoymnist`, `BASE+RULE`, ...). */
export function loadDataset(name: string, opts: DatasetOptions = {}): ShortcutDataset {
  const { base, shortcut } = resolveDataset(name);
  if (opts.cacheDir) {
    const hit = loadCached(opts.cacheDir, name, opts);
    if (hit) return hit;
  }
  const ds = buildFromBase(name, getBaseSetLoader(base)(opts.dir), getShortcut(shortcut), opts);
  if (opts.cacheDir) saveCached(opts.cacheDir, ds, opts);
  return ds;
}
