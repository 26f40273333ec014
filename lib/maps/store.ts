import * as fs from 'node:fs';
import type { SplitName } from '../data/types';
import type { MapBatch } from './types';
import { UserError } from '../util/errors';
import { DATA_SHA256, TensorFileReader, jsonMetadata, writeTensorFile, type Tensor } from '../util/tensor-file';
import { tensorFileKind } from '../util/outputs';

/**
 * Compact map storage: one tensor file (safetensors layout, lib/util/tensor-file) per dataset split
 * (and generator/prompt), so `safetensors.numpy.load_file(f)['maps'] / 255` gives the maps in Python.
 *   'maps'     U8 [count, height, width], value = round(map * 255), row-major
 *   'indices'  I32 [count], only when the file holds a subset: the split index of each stored map
 *   metadata   format 'ltl-maps', version, 'header': the JSON of MapStoreMeta and createdAt, plus the
 *              tensor file's data and header checksums.
 * Map k lies at a fixed offset, so one map is read with a single positioned read. The previous format
 * (magic "LTLMAPS\n", files named *.ltlmaps) is recognised only to say so.
 */
export const MAP_STORE_FORMAT = 'ltl-maps';
/** An output path holding a map file may be written over by another map file, and by nothing else (prepareOutFile). */
export const MAP_FILE_KIND = tensorFileKind(MAP_STORE_FORMAT, 'a map file');
export const MAP_STORE_VERSION = '3';
const OLD_MAGIC = 'LTLMAPS\n';

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
  /** True when the file holds a subset of the split (the 'indices' tensor). */
  indexed: boolean;
  /** SHA-256 of the tensor bytes (maps, then the index table): the file's data_sha256. */
  payloadSha256: string;
  createdAt: string;
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
  const stored: MapStoreMeta & { createdAt: string } = {
    dataset: meta.dataset, split: meta.split, generator: meta.generator, prompt: meta.prompt,
    background: [...meta.background], datasetChecksum: meta.datasetChecksum,
    ...(meta.seed !== undefined ? { seed: meta.seed } : {}),
    ...(meta.extra ? { extra: meta.extra } : {}),
    createdAt: new Date().toISOString(),
  };
  const tensors: Array<[string, Tensor]> = [['maps', { dtype: 'U8', shape: [count, height, width], data: bytes }]];
  if (indices) tensors.push(['indices', { dtype: 'I32', shape: [count], data: Int32Array.from(indices) }]);
  writeTensorFile(file, tensors, { format: MAP_STORE_FORMAT, version: MAP_STORE_VERSION, header: jsonMetadata(stored) });
  // What a reader sees: read back the checksum rather than hash the bytes a second time.
  const r = TensorFileReader.open(file, { what: 'map file' });
  r.close();
  return { ...stored, count, height, width, dtype: 'uint8', indexed: !!indices, payloadSha256: r.metadata[DATA_SHA256] };
}

/**
 * Random access to a map file without loading it: the header is parsed and validated on open,
 * each map is read with one positioned read. Call close() (or use loadMapStore for everything).
 */
export class MapStoreReader {
  readonly header: MapStoreHeader;
  /** split index -> position in the file (only for indexed files). */
  private readonly positions?: Map<number, number>;
  /** The split index of each stored map. */
  readonly indices: Int32Array;

  private constructor(readonly file: string, private readonly tf: TensorFileReader, header: MapStoreHeader, indices: Int32Array | undefined) {
    this.header = header;
    if (indices) {
      this.indices = indices;
      this.positions = new Map();
      indices.forEach((s, k) => this.positions!.set(s, k));
    } else {
      this.indices = new Int32Array(header.count);
      for (let i = 0; i < header.count; i++) this.indices[i] = i;
    }
  }

  /** Opens and validates a map file. `verify` (default true) hashes the tensor bytes in 1 MiB chunks. */
  static open(file: string, expect: MapStoreExpect = {}, opts: { verify?: boolean } = {}): MapStoreReader {
    if (!fs.existsSync(file)) throw new UserError(`map file ${file} does not exist`);
    if (fs.statSync(file).isDirectory()) throw new UserError(`map file ${file} is a folder, not a map file`);
    checkNotOldFormat(file);
    const tf = TensorFileReader.open(file, { what: 'map file' });
    try {
      const bad = (what: string) => new UserError(`map file ${file} is corrupt: ${what}`);
      if (tf.metadata.format !== MAP_STORE_FORMAT) throw new UserError(`${file} is not a map file (a tensor file of format ${JSON.stringify(tf.metadata.format)}, expected ${JSON.stringify(MAP_STORE_FORMAT)})`);
      if (tf.metadata.version !== MAP_STORE_VERSION) throw new UserError(`map file ${file} has format version ${tf.metadata.version}; this program reads version ${MAP_STORE_VERSION}`);
      const stored = tf.json<MapStoreMeta & { createdAt: string }>('header');
      const maps = tf.entry('maps');
      if (maps.dtype !== 'U8' || maps.shape.length !== 3) throw bad(`its 'maps' tensor is ${maps.dtype} [${maps.shape}], not U8 [count, height, width]`);
      const [count, height, width] = maps.shape;
      const idx = tf.entries.find((e) => e.name === 'indices');
      if (idx && (idx.dtype !== 'I32' || idx.shape.length !== 1 || idx.shape[0] !== count)) throw bad(`its 'indices' tensor is ${idx.dtype} [${idx.shape}], not I32 [${count}]`);
      if (tf.entries.length !== (idx ? 2 : 1)) throw bad(`it holds tensors other than 'maps' and 'indices'`);
      const header: MapStoreHeader = { ...stored, count, height, width, dtype: 'uint8', indexed: !!idx, payloadSha256: tf.metadata[DATA_SHA256] };
      validateHeader(file, header);
      if (opts.verify ?? true) tf.verifyData();
      let indices: Int32Array | undefined;
      if (idx) {
        indices = tf.read('indices').data as Int32Array;
        // A negative or repeated index would make has()/covers answer for maps the file does not hold.
        const seen = new Set<number>();
        for (const s of indices) {
          if (s < 0 || seen.has(s)) throw new UserError(`map file ${file} has a corrupt index table: split index ${s} is ${s < 0 ? 'negative' : 'repeated'}`);
          seen.add(s);
        }
      }
      const reader = new MapStoreReader(file, tf, header, indices);
      checkExpect(reader, expect);
      return reader;
    } catch (e) {
      tf.close();
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
    return this.tf.readBytes('maps', this.position(splitIndex) * this.bytesPerMap, this.bytesPerMap, out);
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
    return this.tf.readBytes('maps', start * this.bytesPerMap, count * this.bytesPerMap);
  }

  close(): void {
    this.tf.close();
  }
}

/** A map file of the format before tensor files: one clear line (regenerate it), not "corrupt". */
function checkNotOldFormat(file: string): void {
  const fd = fs.openSync(file, 'r');
  const b = Buffer.alloc(8);
  try {
    fs.readSync(fd, b, 0, 8, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (b.toString('latin1') === OLD_MAGIC) {
    throw new UserError(`map file ${file} is in the old format (LTLMAPS, before tensor files in the safetensors layout): this ltl cannot read it; make it again with 'ltl maps ... --out FILE'`);
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
  if (h.height === 0 || h.width === 0) throw bad('maps of zero size');
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
