import * as fs from 'node:fs';
import * as path from 'node:path';
import { SPLITS, type ImageSplit, type ShortcutDataset, type SplitName } from './types';
import { writeFileAtomic } from '../util/atomic';
import { sha256 } from '../util/hash';
import { canonicalJson } from '../util/canonical-json';
import { getShortcut, resolveDataset } from './registry';
import type { DatasetOptions } from './build';

/**
 * On-disk cache of a built dataset: a JSON header line, then the raw arrays. The header holds a
 * SHA-256 of the payload and a description of what the dataset was made from (name, base files'
 * folders, data seed, validation size, the shortcut rule's code and fingerprint); a file whose
 * checksum or source does not match is ignored (and rebuilt), never trusted.
 */
const MAGIC = 'LTLDS2';

/** What a cached dataset was made from: a cache made from anything else is not served. */
export function cacheSource(name: string, opts: DatasetOptions): Record<string, unknown> {
  const { shortcut } = resolveDataset(name);
  const rule = getShortcut(shortcut);
  return {
    name,
    // The environment's data folders are part of the key: another LTL_MNIST_DIR must not hit this cache.
    dirs: [opts.dir ?? '', process.env.LTL_MNIST_DIR ?? '', process.env.LTL_FASHION_DIR ?? ''],
    seed: opts.seed ?? '', valSize: opts.valSize ?? '',
    rule: { name: rule.name, fingerprint: rule.fingerprint ?? '', code: sha256(Buffer.from(String(rule.apply))) },
  };
}

function cacheFile(dir: string, name: string, source: Record<string, unknown>): string {
  const key = sha256(Buffer.from(canonicalJson(source))).slice(0, 16);
  return path.join(dir, `${name}-${key}.ltlds`);
}

const FIELDS = ['images', 'labels', 'digitMasks', 'shortcutMasks', 'sourceIndex'] as const;

export function saveCached(dir: string, ds: ShortcutDataset, opts: DatasetOptions): void {
  const parts: Uint8Array[] = [];
  const splits: Record<string, unknown> = {};
  for (const s of SPLITS) {
    const sp = ds[s];
    const lens: Record<string, number> = {};
    for (const f of FIELDS) {
      const a = sp[f];
      if (!a) continue;
      const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
      parts.push(bytes);
      lens[f] = bytes.byteLength;
    }
    splits[s] = { count: sp.count, height: sp.height, width: sp.width, channels: sp.channels, lens };
  }
  const payload = Buffer.concat(parts);
  const source = cacheSource(ds.name, opts);
  const body = {
    magic: MAGIC, name: ds.name, base: ds.base, shortcut: ds.shortcut, classes: ds.classes, seed: ds.seed,
    checksum: ds.checksum, payloadSha256: sha256(payload), splits, source,
  };
  const header = JSON.stringify({ ...body, headerSha256: sha256(Buffer.from(canonicalJson(body))) });
  writeFileAtomic(cacheFile(dir, ds.name, source), Buffer.concat([Buffer.from(header + '\n'), payload]));
}

export function loadCached(dir: string, name: string, opts: DatasetOptions): ShortcutDataset | undefined {
  const source = cacheSource(name, opts);
  const file = cacheFile(dir, name, source);
  if (!fs.existsSync(file)) return undefined;
  const buf = fs.readFileSync(file);
  const nl = buf.indexOf(10);
  if (nl < 0) return undefined;
  let h: any;
  try {
    h = JSON.parse(buf.subarray(0, nl).toString('utf8'));
  } catch {
    return undefined;
  }
  const payload = buf.subarray(nl + 1);
  if (!h || h.magic !== MAGIC || sha256(payload) !== h.payloadSha256) return undefined;
  const { headerSha256, ...body } = h;
  if (headerSha256 !== sha256(Buffer.from(canonicalJson(body)))) return undefined;
  if (canonicalJson(h.source) !== canonicalJson(source)) return undefined;
  let off = 0;
  const take = (len: number): Uint8Array => {
    if (!(len >= 0) || off + len > payload.length) throw new Error('cache header does not match its payload');
    const out = new Uint8Array(len);
    out.set(payload.subarray(off, off + len));
    off += len;
    return out;
  };
  try {
    const ds = decode(h, take);
    if (off !== payload.length) return undefined;
    return ds;
  } catch {
    return undefined; // a header that passed the checksum but does not describe the payload: rebuild
  }
}

function decode(h: any, take: (len: number) => Uint8Array): ShortcutDataset {
  const out: Partial<Record<SplitName, ImageSplit>> = {};
  for (const s of SPLITS) {
    const m = h.splits[s];
    const f: Record<string, Uint8Array> = {};
    for (const k of FIELDS) if (m.lens[k] !== undefined) f[k] = take(m.lens[k]);
    out[s] = {
      split: s, count: m.count, height: m.height, width: m.width, channels: m.channels,
      images: f.images, labels: f.labels, digitMasks: f.digitMasks, shortcutMasks: f.shortcutMasks,
      sourceIndex: new Int32Array(f.sourceIndex.buffer),
    };
  }
  return {
    name: h.name, base: h.base, shortcut: h.shortcut, classes: h.classes, seed: h.seed,
    train: out.train!, val: out.val!, test: out.test!, checksum: h.checksum,
  };
}
