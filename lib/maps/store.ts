import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import { sha256 } from '../util/hash';
import type { SplitName } from '../data/types';
import type { MapBatch } from './types';
import { UserError } from '../util/errors';
import { writeFileAtomic } from '../util/atomic';
import { canonicalJson } from '../util/canonical-json';

/**
 * Compact map storage: one binary file per dataset split (and generator/prompt).
 *
 * Layout (all integers little-endian):
 *   0   8 bytes  magic "LTLMAPS\n"
 *   8   uint32   format version (2; version 1 files, without headerSha256, are still read)
 *   12  uint32   header length L in bytes
 *   16  L bytes  header, UTF-8 JSON (MapStoreHeader), zero-padded so the payload starts at a multiple of 8
 *   P   count*height*width uint8   maps, row-major, value = round(map * 255)
 *   ... count int32                only when header.indexed: the split index of each stored map
 * payloadSha256 covers everything from P to the end of the file; headerSha256 (version 2) covers the
 * header itself (SHA-256 of its canonical JSON without that field), so no byte of the file can change unnoticed.
 * Map k lies at P + k*height*width, so one map can be read with a single positioned read.
 */
export const MAP_STORE_MAGIC = 'LTLMAPS\n';
export const MAP_STORE_VERSION = 2;
const PREFIX = 16;

export interface MapStoreMeta {
  /** Dataset name as loadDataset resolved it, e.g. 'decoymnist'. */
  dataset: string;
  split: SplitName;
  generator: string;
  prompt: string;
  background: string[];
  /** ShortcutDataset.checksum of the data the maps were made from. */
  datasetChecksum: string;
  /** Seed of a random generator, when it mattered. */
  seed?: number;
  /** Free-form provenance (generator options, model id, ...). */
  extra?: Record<string, unknown>;
}

export interface MapStoreHeader extends MapStoreMeta {
  count: number;
  height: number;
  width: number;
  dtype: 'uint8';
  /** True when the file holds a subset of the split; the int32 index table follows the maps. */
  indexed: boolean;
  payloadSha256: string;
  createdAt: string;
  /** SHA-256 of the header's canonical JSON without this field (format version 2). */
  headerSha256?: string;
}

/** The checksum a version-2 header carries over its own other fields. */
export function headerChecksum(h: MapStoreHeader): string {
  const { headerSha256: _h, ...rest } = h;
  return sha256(Buffer.from(canonicalJson(rest), 'utf8'));
}

/** What a reader checks the file against (all optional). */
export interface MapStoreExpect {
  dataset?: string;
  split?: SplitName;
  datasetChecksum?: string;
  height?: number;
  width?: number;
  /** The file must hold a map for every index below this (e.g. the split's count, or --limit). */
  covers?: number;
  generator?: string;
  prompt?: string;
}

/** Maps in [0, 1] to bytes (0..255, rounded). Values outside [0, 1] are clamped; NaN becomes 0. */
export function quantizeMaps(data: Float32Array, out = new Uint8Array(data.length)): Uint8Array {
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    out[i] = v > 0 ? (v >= 1 ? 255 : Math.round(v * 255)) : 0;
  }
  return out;
}

export function dequantizeMaps(bytes: Uint8Array, out = new Float32Array(bytes.length)): Float32Array {
  for (let i = 0; i < bytes.length; i++) out[i] = bytes[i] / 255;
  return out;
}

/**
 * Writes maps atomically. `maps` is a MapBatch (quantised here) or already-quantised bytes with
 * their shape; `indices` (ascending or not, unique) marks a subset of the split.
 */
export function writeMapStore(
  file: string,
  meta: MapStoreMeta,
  maps: MapBatch | { count: number; height: number; width: number; bytes: Uint8Array },
  indices?: Int32Array,
): MapStoreHeader {
  const { count, height, width } = maps;
  const bytes = 'bytes' in maps ? maps.bytes : quantizeMaps(maps.data);
  if (bytes.length !== count * height * width) throw new Error(`map payload has ${bytes.length} bytes, expected ${count}x${height}x${width}`);
  if (indices && indices.length !== count) throw new Error(`index table has ${indices.length} entries for ${count} maps`);
  const indexBytes = indices ? new Uint8Array(Int32Array.from(indices).buffer) : new Uint8Array(0);
  const payloadSha256 = sha256(bytes, indexBytes);
  const unsealed: MapStoreHeader = {
    dataset: meta.dataset, split: meta.split, generator: meta.generator, prompt: meta.prompt,
    background: [...meta.background], datasetChecksum: meta.datasetChecksum,
    ...(meta.seed !== undefined ? { seed: meta.seed } : {}),
    ...(meta.extra ? { extra: meta.extra } : {}),
    count, height, width, dtype: 'uint8', indexed: !!indices, payloadSha256,
    createdAt: new Date().toISOString(),
  };
  const header: MapStoreHeader = { ...unsealed, headerSha256: headerChecksum(unsealed) };
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - ((PREFIX + json.length) % 8)) % 8;
  json = Buffer.concat([json, Buffer.alloc(pad)]);
  const prefix = Buffer.alloc(PREFIX);
  prefix.write(MAP_STORE_MAGIC, 0, 'latin1');
  prefix.writeUInt32LE(MAP_STORE_VERSION, 8);
  prefix.writeUInt32LE(json.length, 12);
  writeFileAtomic(file, Buffer.concat([prefix, json, bytes, indexBytes]));
  return header;
}

/**
 * Random access to a map file without loading it: the header is parsed and validated on open,
 * each map is read with one positioned read. Call close() (or use loadMapStore for everything).
 */
export class MapStoreReader {
  readonly header: MapStoreHeader;
  readonly payloadOffset: number;
  private fd: number | undefined;
  /** split index -> position in the file (only for indexed files). */
  private readonly positions?: Map<number, number>;
  /** The split index of each stored map. */
  readonly indices: Int32Array;

  private constructor(readonly file: string, fd: number, header: MapStoreHeader, payloadOffset: number, indices: Int32Array | undefined) {
    this.fd = fd;
    this.header = header;
    this.payloadOffset = payloadOffset;
    if (indices) {
      this.indices = indices;
      this.positions = new Map();
      indices.forEach((s, k) => this.positions!.set(s, k));
    } else {
      this.indices = new Int32Array(header.count);
      for (let i = 0; i < header.count; i++) this.indices[i] = i;
    }
  }

  /** Opens and validates a map file. `verify` (default true) hashes the payload in 1 MiB chunks. */
  static open(file: string, expect: MapStoreExpect = {}, opts: { verify?: boolean } = {}): MapStoreReader {
    if (!fs.existsSync(file)) throw new UserError(`map file ${file} does not exist`);
    if (fs.statSync(file).isDirectory()) throw new UserError(`map file ${file} is a folder, not a map file`);
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      if (size < PREFIX) throw new UserError(`map file ${file} is truncated: ${size} bytes, shorter than the ${PREFIX}-byte prefix`);
      const prefix = Buffer.alloc(PREFIX);
      fs.readSync(fd, prefix, 0, PREFIX, 0);
      if (prefix.toString('latin1', 0, 8) !== MAP_STORE_MAGIC) {
        throw new UserError(`${file} is not a map file (wrong magic ${JSON.stringify(prefix.toString('latin1', 0, 8))}, expected ${JSON.stringify(MAP_STORE_MAGIC)})`);
      }
      const version = prefix.readUInt32LE(8);
      if (version !== MAP_STORE_VERSION && version !== 1) throw new UserError(`map file ${file} has format version ${version}; this program reads versions 1 and ${MAP_STORE_VERSION}`);
      const hlen = prefix.readUInt32LE(12);
      if (PREFIX + hlen > size) throw new UserError(`map file ${file} is truncated: the header needs ${hlen} bytes, the file has ${size - PREFIX} after the prefix`);
      const hbuf = Buffer.alloc(hlen);
      fs.readSync(fd, hbuf, 0, hlen, PREFIX);
      let header: MapStoreHeader;
      const text = hbuf.toString('utf8').replace(/\0+$/, '');
      try {
        header = JSON.parse(text);
      } catch {
        throw new UserError(`map file ${file} has a corrupt header (not valid JSON)`);
      }
      if (version >= 2) {
        // The header's own checksum, and zero padding exactly as written: no byte may change unnoticed.
        if (!text.endsWith('}')) throw new UserError(`map file ${file} has a corrupt header (bytes after its JSON)`);
        if (typeof header?.headerSha256 !== 'string') throw new UserError(`map file ${file} has a corrupt header: its checksum (headerSha256) is missing`);
        const got = headerChecksum(header);
        if (got !== header.headerSha256) {
          throw new UserError(`map file ${file} has a corrupt header: checksum mismatch (SHA-256 ${got.slice(0, 12)}..., stored ${header.headerSha256.slice(0, 12)}...)`);
        }
      }
      validateHeader(file, header);
      const payloadOffset = PREFIX + hlen;
      const mapBytes = header.count * header.height * header.width;
      const expected = payloadOffset + mapBytes + (header.indexed ? 4 * header.count : 0);
      if (size < expected) {
        throw new UserError(`map file ${file} is truncated: its header promises ${header.count} maps of ${header.height}x${header.width} (${expected} bytes in all), but the file has ${size} bytes`);
      }
      if (size > expected) throw new UserError(`map file ${file} has ${size - expected} unexpected trailing bytes (corrupt or not written by this program)`);
      if (opts.verify ?? true) {
        const h = createHash('sha256');
        const chunk = Buffer.alloc(1 << 20);
        for (let pos = payloadOffset; pos < size; ) {
          const n = fs.readSync(fd, chunk, 0, Math.min(chunk.length, size - pos), pos);
          h.update(chunk.subarray(0, n));
          pos += n;
        }
        const got = h.digest('hex');
        if (got !== header.payloadSha256) {
          throw new UserError(`map file ${file} is corrupt: payload checksum mismatch (SHA-256 ${got.slice(0, 12)}..., header says ${header.payloadSha256.slice(0, 12)}...)`);
        }
      }
      let indices: Int32Array | undefined;
      if (header.indexed) {
        const ib = Buffer.alloc(4 * header.count);
        fs.readSync(fd, ib, 0, ib.length, payloadOffset + mapBytes);
        indices = new Int32Array(ib.buffer, ib.byteOffset, header.count).slice();
        // A negative or repeated index would make has()/covers answer for maps the file does not hold.
        const seen = new Set<number>();
        for (const s of indices) {
          if (s < 0 || seen.has(s)) throw new UserError(`map file ${file} has a corrupt index table: split index ${s} is ${s < 0 ? 'negative' : 'repeated'}`);
          seen.add(s);
        }
      }
      const reader = new MapStoreReader(file, fd, header, payloadOffset, indices);
      checkExpect(reader, expect);
      return reader;
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  get count(): number { return this.header.count; }
  get bytesPerMap(): number { return this.header.height * this.header.width; }

  /** Whether the file holds a map for this split index. */
  has(splitIndex: number): boolean {
    if (this.positions) return this.positions.has(splitIndex);
    return Number.isInteger(splitIndex) && splitIndex >= 0 && splitIndex < this.header.count;
  }

  private position(splitIndex: number): number {
    const k = this.positions ? this.positions.get(splitIndex) : splitIndex;
    if (k === undefined || !this.has(splitIndex)) throw new UserError(`map file ${this.file} has no map for index ${splitIndex}`);
    return k;
  }

  /** The stored bytes of the map of one split index (one positioned read). */
  readBytes(splitIndex: number, out = new Uint8Array(this.bytesPerMap)): Uint8Array {
    if (this.fd === undefined) throw new Error(`map file ${this.file} is closed`);
    const k = this.position(splitIndex);
    const n = fs.readSync(this.fd, out, 0, this.bytesPerMap, this.payloadOffset + k * this.bytesPerMap);
    if (n !== this.bytesPerMap) throw new UserError(`map file ${this.file} is truncated (changed while open?)`);
    return out;
  }

  /** Maps of the given split indices as a MapBatch (values k/255). */
  read(indices: ArrayLike<number>): MapBatch {
    const { height, width } = this.header;
    const hw = height * width;
    const n = indices.length;
    // Maps stored one after the other (e.g. the first N images of a plain file) come in one read.
    const first = n > 0 ? this.position(indices[0]) : 0;
    let run = true;
    for (let k = 1; run && k < n; k++) run = this.position(indices[k]) === first + k;
    if (run) return { count: n, height, width, data: dequantizeMaps(this.readRange(first, n)) };
    const data = new Float32Array(n * hw);
    const buf = new Uint8Array(hw);
    for (let k = 0; k < n; k++) dequantizeMaps(this.readBytes(indices[k], buf), data.subarray(k * hw, (k + 1) * hw));
    return { count: n, height, width, data };
  }

  /** All stored bytes, in file order (one read). */
  readAllBytes(): Uint8Array {
    return this.readRange(0, this.header.count);
  }

  /** The bytes of `count` maps stored from file position `start` on. */
  private readRange(start: number, count: number): Uint8Array {
    if (this.fd === undefined) throw new Error(`map file ${this.file} is closed`);
    const out = new Uint8Array(count * this.bytesPerMap);
    let done = 0;
    while (done < out.length) {
      const n = fs.readSync(this.fd, out, done, out.length - done, this.payloadOffset + start * this.bytesPerMap + done);
      if (n <= 0) throw new UserError(`map file ${this.file} is truncated (changed while open?)`);
      done += n;
    }
    return out;
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

/** Loads a whole map file: header, maps in file order, and the split index of each. */
export function loadMapStore(file: string, expect: MapStoreExpect = {}): { header: MapStoreHeader; maps: MapBatch; indices: Int32Array } {
  const r = MapStoreReader.open(file, expect);
  try {
    const { count, height, width } = r.header;
    return { header: r.header, maps: { count, height, width, data: dequantizeMaps(r.readAllBytes()) }, indices: r.indices };
  } finally {
    r.close();
  }
}

/** Reads only the header (validated, payload not hashed): for listing files quickly. */
export function readMapStoreHeader(file: string): MapStoreHeader {
  const r = MapStoreReader.open(file, {}, { verify: false });
  r.close();
  return r.header;
}

function validateHeader(file: string, h: MapStoreHeader): void {
  const bad = (what: string) => new UserError(`map file ${file} has a corrupt header: ${what}`);
  if (typeof h !== 'object' || h === null) throw bad('not an object');
  for (const k of ['dataset', 'split', 'generator', 'prompt', 'datasetChecksum', 'payloadSha256'] as const) {
    if (typeof h[k] !== 'string') throw bad(`field '${k}' missing or not a string`);
  }
  if (!['train', 'val', 'test'].includes(h.split)) throw bad(`split '${h.split}' is not train, val or test`);
  if (!Array.isArray(h.background) || !h.background.every((b) => typeof b === 'string')) throw bad(`field 'background' is not a list of strings`);
  for (const k of ['count', 'height', 'width'] as const) {
    if (!(Number.isInteger(h[k]) && h[k] >= 0)) throw bad(`field '${k}' is not a non-negative integer`);
  }
  if (h.height === 0 || h.width === 0) throw bad('maps of zero size');
  if (h.dtype !== 'uint8') throw bad(`dtype '${String(h.dtype)}' (only uint8 is supported)`);
  if (typeof h.indexed !== 'boolean') throw bad(`field 'indexed' missing`);
}

function checkExpect(r: MapStoreReader, e: MapStoreExpect): void {
  const h = r.header, f = r.file;
  if (e.dataset !== undefined && e.dataset !== h.dataset) throw new UserError(`map file ${f} was made for dataset '${h.dataset}', not '${e.dataset}'`);
  if (e.split !== undefined && e.split !== h.split) throw new UserError(`map file ${f} holds maps of the ${h.split} split, not the ${e.split} split`);
  if (e.datasetChecksum !== undefined && e.datasetChecksum !== h.datasetChecksum) {
    throw new UserError(`map file ${f} does not match the dataset: dataset checksum mismatch (file ${h.datasetChecksum.slice(0, 12)}..., loaded data ${e.datasetChecksum.slice(0, 12)}...; another data seed or base set?)`);
  }
  if ((e.height !== undefined && e.height !== h.height) || (e.width !== undefined && e.width !== h.width)) {
    throw new UserError(`map file ${f} holds maps of the wrong shape: ${h.height}x${h.width}, the images are ${e.height ?? h.height}x${e.width ?? h.width}`);
  }
  if (e.generator !== undefined && e.generator !== h.generator) throw new UserError(`map file ${f} was made by generator '${h.generator}', not '${e.generator}'`);
  if (e.prompt !== undefined && e.prompt !== h.prompt) throw new UserError(`map file ${f} was made with prompt ${JSON.stringify(h.prompt)}, not ${JSON.stringify(e.prompt)}`);
  if (e.covers !== undefined) {
    for (let i = 0; i < e.covers; i++) {
      if (!r.has(i)) throw new UserError(`map file ${f} has no map for image ${i} of the ${h.split} split (it holds ${h.count} maps; ${e.covers} needed)`);
    }
  }
}

/** The checks a trainer wants before using a map file with a loaded dataset split. */
export function expectForSplit(
  ds: { name: string; checksum: string } & Record<SplitName, { count: number; height: number; width: number }>,
  split: SplitName,
  opts: { covers?: number | 'all' } = { covers: 'all' },
): MapStoreExpect {
  const s = ds[split];
  const covers = opts.covers === 'all' ? s.count : opts.covers;
  return { dataset: ds.name, split, datasetChecksum: ds.checksum, height: s.height, width: s.width, ...(covers !== undefined ? { covers } : {}) };
}
