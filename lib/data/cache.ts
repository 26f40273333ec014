import * as fs from 'node:fs';
import * as path from 'node:path';
import { SPLITS, type ImageSplit, type ShortcutDataset, type SplitName } from './types';
import { jsonMetadata, readTensorFile, tensor, writeTensorFile, type Tensor } from '../util/tensor-file';
import { sha256 } from '../util/hash';
import { canonicalJson } from '../util/canonical-json';
import { getShortcut, resolveDataset } from './registry';
import type { DatasetOptions } from './types';

/**
 * On-disk cache of a built dataset: one tensor file (safetensors layout, lib/util/tensor-file) with
 * each split's arrays as '<split>/<field>' ('train/images' U8 [count, height, width, channels],
 * 'train/labels' U8 [count], 'train/digitMasks' U8 [count, height, width], 'train/sourceIndex' I32
 * [count], ...) and, in its metadata, the dataset's description and what it was made from (name,
 * base files' folders, data seed, validation size, the shortcut rule's code and fingerprint). A file
 * that fails its checksums or was made from anything else is ignored (and rebuilt), never trusted.
 * Caches of the previous format (*.ltlds) are left alone: their name differs, so they are not read.
 */
const FORMAT = 'ltl-dataset-cache';
const VERSION = '3';

/** What a cached dataset was made from: a cache made from anything else is not served. */
export function cacheSource(name: string, opts: DatasetOptions): Record<string, unknown> {
  const { shortcut } = resolveDataset(name);
  const rule = getShortcut(shortcut);
  return {
    name,
    // The environment's data folders are part of the key: another LTL_MNIST_DIR must not hit this cache.
    dirs: [opts.dir ?? '', process.env.LTL_MNIST_DIR ?? '', process.env.LTL_FASHION_DIR ?? ''],
    seed: opts.seed ?? '', valSize: opts.valSize ?? '',
    // absent for the published datasets, so their existing caches stay valid
    ...(opts.shortcutLabels && opts.shortcutLabels !== 'class' ? { shortcutLabels: opts.shortcutLabels } : {}),
    rule: { name: rule.name, fingerprint: rule.fingerprint ?? '', code: sha256(Buffer.from(String(rule.apply))) },
  };
}

/** The cache file of a dataset made from `source`. */
export function cacheFile(dir: string, name: string, source: Record<string, unknown>): string {
  const key = sha256(Buffer.from(canonicalJson(source))).slice(0, 16);
  return path.join(dir, `${name}-${key}.dataset.safetensors`);
}

const FIELDS = ['images', 'labels', 'digitMasks', 'shortcutMasks', 'sourceIndex'] as const;

interface CacheHeader {
  name: string; base: string; shortcut: string; classes: string[]; seed: number; checksum: string; shortcutLabels?: 'random';
  splits: Record<SplitName, { count: number; height: number; width: number; channels: 1 | 3 }>;
  source: Record<string, unknown>;
}

/** The shape of a field: per image, per pixel, or per pixel and channel. */
function fieldShape(sp: ImageSplit, f: (typeof FIELDS)[number]): number[] {
  if (f === 'images') return [sp.count, sp.height, sp.width, sp.channels];
  if (f === 'digitMasks' || f === 'shortcutMasks') return [sp.count, sp.height, sp.width];
  return [sp.count];
}

export function saveCached(dir: string, ds: ShortcutDataset, opts: DatasetOptions): void {
  const tensors: Array<[string, Tensor]> = [];
  const splits = {} as CacheHeader['splits'];
  for (const s of SPLITS) {
    const sp = ds[s];
    for (const f of FIELDS) {
      const a = sp[f];
      if (a) tensors.push([`${s}/${f}`, tensor(a, fieldShape(sp, f))]);
    }
    splits[s] = { count: sp.count, height: sp.height, width: sp.width, channels: sp.channels };
  }
  const source = cacheSource(ds.name, opts);
  const header: CacheHeader = {
    name: ds.name, base: ds.base, shortcut: ds.shortcut, classes: [...ds.classes], seed: ds.seed, checksum: ds.checksum, splits, source,
    ...(ds.shortcutLabels === 'random' ? { shortcutLabels: 'random' as const } : {}),
  };
  writeTensorFile(cacheFile(dir, ds.name, source), tensors, { format: FORMAT, version: VERSION, dataset: jsonMetadata(header) });
}

export function loadCached(dir: string, name: string, opts: DatasetOptions): ShortcutDataset | undefined {
  const source = cacheSource(name, opts);
  const file = cacheFile(dir, name, source);
  if (!fs.existsSync(file)) return undefined;
  try {
    const f = readTensorFile(file, { what: 'dataset cache' });
    if (f.metadata.format !== FORMAT || f.metadata.version !== VERSION) return undefined;
    const h = f.json<CacheHeader>('dataset');
    if (canonicalJson(h.source) !== canonicalJson(source)) return undefined;
    return decode(h, f.tensors);
  } catch {
    return undefined; // damaged, or a header that does not describe the tensors: a cache, so rebuild it
  }
}

function decode(h: CacheHeader, tensors: Map<string, Tensor>): ShortcutDataset {
  const out: Partial<Record<SplitName, ImageSplit>> = {};
  for (const s of SPLITS) {
    const m = h.splits[s];
    const get = <T extends Tensor['data']>(f: (typeof FIELDS)[number], ctor: new (...a: any[]) => T): T | undefined => {
      const t = tensors.get(`${s}/${f}`);
      if (!t) return undefined;
      if (!(t.data instanceof ctor) || t.shape.join('x') !== fieldShape({ ...m, split: s } as ImageSplit, f).join('x')) throw new Error(`cache tensor ${s}/${f} does not match its header`);
      return t.data as T;
    };
    const images = get('images', Uint8Array), labels = get('labels', Uint8Array), digitMasks = get('digitMasks', Uint8Array);
    const sourceIndex = get('sourceIndex', Int32Array);
    if (!images || !labels || !digitMasks || !sourceIndex) throw new Error(`cache split ${s} lacks an array`);
    out[s] = { split: s, count: m.count, height: m.height, width: m.width, channels: m.channels, images, labels, digitMasks, shortcutMasks: get('shortcutMasks', Uint8Array), sourceIndex };
  }
  return {
    name: h.name, base: h.base, shortcut: h.shortcut, classes: h.classes, seed: h.seed,
    ...(h.shortcutLabels === 'random' ? { shortcutLabels: 'random' as const } : {}),
    train: out.train!, val: out.val!, test: out.test!, checksum: h.checksum,
  };
}
