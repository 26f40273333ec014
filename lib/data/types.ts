/** The three splits every dataset has. `val` follows the training rule; `test` the reversed rule. */
export type SplitName = 'train' | 'val' | 'test';
export const SPLITS: readonly SplitName[] = ['train', 'val', 'test'];

/** Grey images of one base set split (e.g. MNIST's 60,000 training digits), row-major uint8. */
export interface GrayImages {
  readonly count: number;
  readonly height: number;
  readonly width: number;
  readonly images: Uint8Array; // count * height * width
  readonly labels: Uint8Array; // count
}

/** A base set: grey labelled images before any shortcut is added. */
export interface BaseSet {
  readonly name: string;
  readonly classes: readonly string[];
  readonly train: GrayImages;
  readonly test: GrayImages;
}

/** One split of a shortcut dataset, held in memory as flat typed arrays. */
export interface ImageSplit {
  readonly split: SplitName;
  readonly count: number;
  readonly height: number;
  readonly width: number;
  readonly channels: 1 | 3;
  /** count * height * width * channels, interleaved (HWC), uint8. */
  readonly images: Uint8Array;
  readonly labels: Uint8Array;
  /** count * height * width; 1 where the original grey pixel > 10 (the object, pixel-exact). */
  readonly digitMasks: Uint8Array;
  /** count * height * width; 1 on a spatial shortcut (the decoy patch); absent for non-spatial rules. */
  readonly shortcutMasks?: Uint8Array;
  /** For each image, its index in the base set's train (train/val) or test (test) images. */
  readonly sourceIndex: Int32Array;
}

export interface ShortcutDataset {
  readonly name: string;
  readonly base: string;
  readonly shortcut: string;
  readonly classes: readonly string[];
  readonly seed: number;
  /** What the shortcut of the training and validation images encodes (DatasetOptions.shortcutLabels); 'class' when absent. */
  readonly shortcutLabels?: ShortcutLabels;
  readonly train: ImageSplit;
  readonly val: ImageSplit;
  readonly test: ImageSplit;
  /** SHA-256 over all images and labels of all splits, in split order. */
  readonly checksum: string;
}

/**
 * A shortcut rule turns a grey image into a shortcut-bearing one. `reversed` is true for the test
 * split, where the shortcut's association with the label is reversed.
 */
export interface ShortcutRule {
  readonly name: string;
  readonly channels: 1 | 3;
  /** True when the shortcut occupies pixels of its own (a patch), so it has a mask. */
  readonly spatial: boolean;
  /**
   * What the rule's output depends on beyond its code (e.g. a palette's values): part of the dataset
   * cache key, so a cache built before the rule changed is never served.
   */
  readonly fingerprint?: string;
  apply(args: {
    gray: Uint8Array; // height * width
    height: number;
    width: number;
    label: number;
    reversed: boolean;
    rng: import('../util/rng').Rng;
    out: Uint8Array; // height * width * channels
    shortcutMask?: Uint8Array; // height * width, zeroed, set to 1 on shortcut pixels
  }): void;
}

/**
 * What the shortcut of the training and validation images encodes: 'class', the image's own label (the dataset as
 * published: the shortcut predicts the label), or 'random', a label drawn independently for each image (the clean
 * reference: the same base images with the same kind of shortcut, which now predicts nothing, so a net trained on it
 * shows the limit any method can reach on the same test split). The test split always follows the reversed rule of
 * the true label.
 */
export type ShortcutLabels = 'class' | 'random';

/** How a shortcut dataset is built (loadDataset, lib/data/build.ts). */
export interface DatasetOptions {
  /** Folder of the base set's IDX files (default: the base set's own default). */
  dir?: string;
  /** Fixes the validation split and the decoy positions. Independent of the training seed. */
  seed?: number;
  /** Training images held out for validation (the authors' 16 %: 9,600 of 60,000). */
  valSize?: number;
  /** What the training and validation shortcut encodes (default 'class'). */
  shortcutLabels?: ShortcutLabels;
  /** Folder for an on-disk cache of the built dataset (checked by checksum); none by default. */
  cacheDir?: string;
}
