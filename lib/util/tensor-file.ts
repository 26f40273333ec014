import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import { writeFileAtomic } from './atomic';
import { canonicalJson } from './canonical-json';
import { UserError } from './errors';

/**
 * Every binary artifact of the project (CNN checkpoints, map files, dataset caches, the VLM's weights)
 * is one tensor file in the safetensors layout (https://github.com/huggingface/safetensors), so
 * `safetensors.torch.load_file` / `safetensors.numpy.load_file` read our files as they are:
 *
 *   8 bytes   N, unsigned 64-bit little-endian
 *   N bytes   UTF-8 JSON object, padded with spaces so the data starts at a multiple of 8:
 *             { "__metadata__": { string: string, ... },
 *               "<name>": { "dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end] }, ... }
 *   rest      the byte buffer: each tensor's elements, little-endian, row-major, at [begin, end)
 *             relative to the buffer's start; tensors contiguous, without holes or overlap.
 *
 * What we add, inside the format: two checksums in __metadata__, so no byte of a file can change
 * unnoticed and a damaged file is one UserError naming it:
 *   data_sha256    SHA-256 of the byte buffer;
 *   header_sha256  SHA-256 of the canonical JSON (sorted keys) of the whole header without this key
 *                  (tensor entries, metadata, data_sha256): a flipped dtype or shape is caught too.
 * Non-string provenance (our JSON headers) goes into __metadata__ as a JSON string under a key
 * (jsonMetadata / readJsonMetadata). Tensors are written in the order given; readers keep that order.
 */

export const DTYPES = {
  F64: Float64Array, F32: Float32Array, I32: Int32Array, U32: Uint32Array,
  I16: Int16Array, U16: Uint16Array, I8: Int8Array, U8: Uint8Array,
} as const;
export type DType = keyof typeof DTYPES;
export type TensorData = Float64Array | Float32Array | Int32Array | Uint32Array | Int16Array | Uint16Array | Int8Array | Uint8Array;

/** One tensor to write or as read: dtype (from the array's type when writing), row-major shape, elements. */
export interface Tensor<T extends TensorData = TensorData> { dtype: DType; shape: number[]; data: T }

/** Where a tensor lies in a file, from its header. */
export interface TensorEntry { name: string; dtype: DType; shape: number[]; begin: number; end: number }

export const DATA_SHA256 = 'data_sha256';
export const HEADER_SHA256 = 'header_sha256';
/** The reference implementation refuses larger headers; so do we (a flipped high bit of N is not a 2^60-byte read). */
const MAX_HEADER = 100_000_000;

/** The dtype of a typed array. */
export function dtypeOf(data: TensorData): DType {
  for (const [k, ctor] of Object.entries(DTYPES)) if (data instanceof ctor) return k as DType;
  throw new Error(`no safetensors dtype for ${Object.prototype.toString.call(data)}`);
}

/** A tensor of a typed array; the shape defaults to one dimension. */
export function tensor<T extends TensorData>(data: T, shape: number[] = [data.length]): Tensor<T> {
  return { dtype: dtypeOf(data), shape, data };
}

/** Non-string metadata as a JSON string (canonical: sorted keys), for __metadata__. */
export function jsonMetadata(value: unknown): string {
  return canonicalJson(value);
}

/**
 * The bytes of a tensor file. `tensors` in the order they are to lie in the file; `metadata` must
 * not use the checksum keys. Exposed for tests; artifacts use writeTensorFile.
 */
export function encodeTensorFile(tensors: Iterable<[string, Tensor]>, metadata: Record<string, string> = {}): Buffer {
  for (const k of [DATA_SHA256, HEADER_SHA256]) if (k in metadata) throw new Error(`metadata key '${k}' is reserved for the checksum`);
  const entries: Record<string, { dtype: DType; shape: number[]; data_offsets: [number, number] }> = {};
  const bufs: Uint8Array[] = [];
  let off = 0;
  for (const [name, t] of tensors) {
    if (name === '__metadata__' || name in entries) throw new Error(`tensor name '${name}' is reserved or repeated`);
    if (dtypeOf(t.data) !== t.dtype) throw new Error(`tensor '${name}' says ${t.dtype} but holds a ${dtypeOf(t.data)} array`);
    if (t.shape.reduce((a, b) => a * b, 1) !== t.data.length) throw new Error(`tensor '${name}' has shape [${t.shape}] but ${t.data.length} elements`);
    entries[name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [off, off + t.data.byteLength] };
    bufs.push(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    off += t.data.byteLength;
  }
  const h = createHash('sha256');
  for (const b of bufs) h.update(b);
  const meta: Record<string, string> = { ...metadata, [DATA_SHA256]: h.digest('hex') };
  meta[HEADER_SHA256] = headerDigest({ __metadata__: meta, ...entries });
  // __metadata__ first, as the reference writer does; then the tensors in file order.
  const json = Buffer.from(JSON.stringify({ __metadata__: meta, ...entries }), 'utf8');
  const n = Math.ceil(json.length / 8) * 8;
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(n));
  return Buffer.concat([prefix, json, Buffer.alloc(n - json.length, 0x20), ...bufs]);
}

/** Writes a tensor file atomically (lib/util/atomic). */
export function writeTensorFile(file: string, tensors: Iterable<[string, Tensor]>, metadata: Record<string, string> = {}): void {
  writeFileAtomic(file, encodeTensorFile(tensors, metadata));
}

function headerDigest(header: Record<string, unknown>): string {
  const meta = { ...(header.__metadata__ as Record<string, string>) };
  delete meta[HEADER_SHA256];
  return createHash('sha256').update(canonicalJson({ ...header, __metadata__: meta })).digest('hex');
}

/** How a reader names the file in messages ("checkpoint", "map file") and what it advises. */
export interface TensorFileContext { what?: string; hint?: string }

function corrupt(file: string, ctx: TensorFileContext, why: string): UserError {
  return new UserError(`${ctx.what ?? 'tensor file'} ${file} is corrupt: ${why}${ctx.hint ? `; ${ctx.hint}` : ''}`);
}

/**
 * Parses and checks a header: the JSON, each entry (known dtype, integer shape, range matching
 * dtype x shape), the ranges (contiguous from 0, no holes or overlap, ending at the file's end) and
 * our header checksum. Returns the entries in file order.
 */
function parseHeader(text: string, dataBytes: number, file: string, ctx: TensorFileContext): { entries: TensorEntry[]; metadata: Record<string, string> } {
  const bad = (why: string) => corrupt(file, ctx, why);
  let header: Record<string, any>;
  try {
    header = JSON.parse(text);
  } catch {
    throw bad('its header is not valid JSON');
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) throw bad('its header is not a JSON object');
  const metadata = header.__metadata__ ?? {};
  if (typeof metadata !== 'object' || Array.isArray(metadata) || !Object.values(metadata).every((v) => typeof v === 'string')) {
    throw bad('its __metadata__ is not a map of strings');
  }
  const stored = metadata[HEADER_SHA256];
  if (typeof stored !== 'string') throw bad(`its header has no '${HEADER_SHA256}' checksum (damaged, or not written by this program)`);
  const got = headerDigest(header);
  if (got !== stored) throw bad(`header checksum mismatch (SHA-256 ${got.slice(0, 12)}..., stored ${stored.slice(0, 12)}...): it was damaged after it was written`);
  const entries: TensorEntry[] = [];
  for (const [name, e] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const dtype = e?.dtype as DType;
    if (!(dtype in DTYPES)) throw bad(`tensor '${name}' has dtype ${JSON.stringify(e?.dtype)}, which this program does not read`);
    const shape = e.shape, offs = e.data_offsets;
    if (!Array.isArray(shape) || !shape.every((d: unknown) => Number.isSafeInteger(d) && (d as number) >= 0)) throw bad(`tensor '${name}' has no valid shape`);
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((d: unknown) => Number.isSafeInteger(d))) throw bad(`tensor '${name}' has no valid data_offsets`);
    const bytes = shape.reduce((a: number, b: number) => a * b, 1) * DTYPES[dtype].BYTES_PER_ELEMENT;
    if (offs[1] - offs[0] !== bytes) throw bad(`tensor '${name}' spans ${offs[1] - offs[0]} bytes, its dtype and shape need ${bytes}`);
    entries.push({ name, dtype, shape, begin: offs[0], end: offs[1] });
  }
  let pos = 0;
  for (const e of [...entries].sort((a, b) => a.begin - b.begin)) {
    if (e.begin !== pos) throw bad(`tensor '${e.name}' starts at byte ${e.begin} of the data, not at ${pos} (a hole or an overlap)`);
    pos = e.end;
  }
  if (pos !== dataBytes) throw bad(`its tensors cover ${pos} bytes of data, the file holds ${dataBytes} (truncated or extended)`);
  entries.sort((a, b) => a.begin - b.begin);
  return { entries, metadata: metadata as Record<string, string> };
}

/**
 * A tensor file opened for positioned reads (the map store reads one map at a time): the header is
 * parsed and checked on open; verifyData() hashes the byte buffer against data_sha256 in chunks.
 */
export class TensorFileReader {
  readonly entries: TensorEntry[];
  readonly metadata: Record<string, string>;
  /** Where the byte buffer starts in the file (8 + N). */
  readonly dataStart: number;
  private fd: number | undefined;

  private constructor(readonly file: string, private readonly ctx: TensorFileContext, fd: number, h: ReturnType<typeof parseHeader>, dataStart: number) {
    this.fd = fd;
    this.entries = h.entries;
    this.metadata = h.metadata;
    this.dataStart = dataStart;
  }

  static open(file: string, ctx: TensorFileContext = {}): TensorFileReader {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      if (size < 8) throw corrupt(file, ctx, `truncated (${size} bytes, shorter than the 8-byte header length)`);
      const prefix = Buffer.alloc(8);
      fs.readSync(fd, prefix, 0, 8, 0);
      const n = prefix.readBigUInt64LE(0);
      if (n > BigInt(Math.min(MAX_HEADER, size - 8))) throw corrupt(file, ctx, `its header length ${n} runs past the end of the file (${size} bytes)`);
      const hbuf = Buffer.alloc(Number(n));
      fs.readSync(fd, hbuf, 0, hbuf.length, 8);
      const h = parseHeader(hbuf.toString('utf8'), size - 8 - hbuf.length, file, ctx);
      return new TensorFileReader(file, ctx, fd, h, 8 + hbuf.length);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  entry(name: string): TensorEntry {
    const e = this.entries.find((x) => x.name === name);
    if (!e) throw corrupt(this.file, this.ctx, `it has no tensor '${name}'`);
    return e;
  }

  /** JSON stored in __metadata__ under `key` (see jsonMetadata). */
  json<T>(key: string): T {
    return parseJsonMetadata<T>(this.metadata, key, this.file, this.ctx);
  }

  /** Hashes the byte buffer (1 MiB at a time) and compares it with data_sha256. */
  verifyData(): void {
    const fd = this.openFd();
    const h = createHash('sha256');
    const chunk = Buffer.alloc(1 << 20);
    const size = fs.fstatSync(fd).size;
    for (let pos = this.dataStart; pos < size;) {
      const n = fs.readSync(fd, chunk, 0, Math.min(chunk.length, size - pos), pos);
      if (n <= 0) throw corrupt(this.file, this.ctx, 'truncated while reading');
      h.update(chunk.subarray(0, n));
      pos += n;
    }
    checkData(h.digest('hex'), this.metadata, this.file, this.ctx);
  }

  /** `length` bytes from `byteOffset` within tensor `name`, read into `out` (one positioned read loop). */
  readBytes(name: string, byteOffset: number, length: number, out = new Uint8Array(length)): Uint8Array {
    const fd = this.openFd();
    const e = this.entry(name);
    if (byteOffset < 0 || byteOffset + length > e.end - e.begin) throw new Error(`read of ${length} bytes at ${byteOffset} is outside tensor '${name}'`);
    for (let done = 0; done < length;) {
      const n = fs.readSync(fd, out, done, length - done, this.dataStart + e.begin + byteOffset + done);
      if (n <= 0) throw corrupt(this.file, this.ctx, 'truncated (changed while open?)');
      done += n;
    }
    return out;
  }

  /** A whole tensor (a copy, aligned for its typed array). */
  read(name: string): Tensor {
    const e = this.entry(name);
    const bytes = this.readBytes(name, 0, e.end - e.begin);
    return { dtype: e.dtype, shape: e.shape, data: new DTYPES[e.dtype](bytes.buffer as ArrayBuffer, bytes.byteOffset, (e.end - e.begin) / DTYPES[e.dtype].BYTES_PER_ELEMENT) };
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }

  private openFd(): number {
    if (this.fd === undefined) throw new Error(`tensor file ${this.file} is closed`);
    return this.fd;
  }
}

function checkData(got: string, metadata: Record<string, string>, file: string, ctx: TensorFileContext): void {
  const stored = metadata[DATA_SHA256];
  if (typeof stored !== 'string') throw corrupt(file, ctx, `it has no '${DATA_SHA256}' checksum`);
  if (got !== stored) throw corrupt(file, ctx, `data checksum mismatch (SHA-256 ${got.slice(0, 12)}..., stored ${stored.slice(0, 12)}...): it was damaged after it was written`);
}

function parseJsonMetadata<T>(metadata: Record<string, string>, key: string, file: string, ctx: TensorFileContext): T {
  const text = metadata[key];
  if (typeof text !== 'string') throw corrupt(file, ctx, `its metadata has no '${key}'`);
  try {
    return JSON.parse(text) as T;
  } catch {
    throw corrupt(file, ctx, `its metadata '${key}' is not valid JSON`);
  }
}

/** A whole tensor file, checked: tensors by name in file order, metadata, and a JSON reader for it. */
export interface TensorFileContents {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
  json<T>(key: string): T;
}

/** Checks and decodes the bytes of a tensor file (`file` names it in messages). */
export function decodeTensorFile(buf: Uint8Array, file: string, ctx: TensorFileContext = {}): TensorFileContents {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < 8) throw corrupt(file, ctx, `truncated (${b.length} bytes, shorter than the 8-byte header length)`);
  const n = b.readBigUInt64LE(0);
  if (n > BigInt(Math.min(MAX_HEADER, b.length - 8))) throw corrupt(file, ctx, `its header length ${n} runs past the end of the file (${b.length} bytes)`);
  const start = 8 + Number(n);
  const { entries, metadata } = parseHeader(b.toString('utf8', 8, start), b.length - start, file, ctx);
  checkData(createHash('sha256').update(b.subarray(start)).digest('hex'), metadata, file, ctx);
  const tensors = new Map<string, Tensor>();
  for (const e of entries) {
    // A copy: the file's buffer is not aligned for every dtype, and callers keep tensors after the file is gone.
    const bytes = b.subarray(start + e.begin, start + e.end);
    const data = new DTYPES[e.dtype](bytes.length / DTYPES[e.dtype].BYTES_PER_ELEMENT);
    new Uint8Array(data.buffer).set(bytes);
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data });
  }
  return { tensors, metadata, json: <T>(key: string) => parseJsonMetadata<T>(metadata, key, file, ctx) };
}

/** Reads and checks a whole tensor file. */
export function readTensorFile(file: string, ctx: TensorFileContext = {}): TensorFileContents {
  return decodeTensorFile(fs.readFileSync(file), file, ctx);
}
