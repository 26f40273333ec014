import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { canonicalJson } from '../../util/canonical-json';
import { UserError } from '../../util/errors';
import { jsonMetadata, readTensorFile, writeTensorFile } from '../../util/tensor-file';
import type { ImageBlock } from './image-block';

/**
 * Patch embeddings of image blocks, kept so that a block is encoded once for any number of prompts. A map
 * is a cheap projection of its image's patch embeddings on the prompts (model.gridMaps), so maps made from
 * kept embeddings are the maps made from fresh ones, bit for bit: the embeddings are float32 as computed.
 *
 * Keyed on content: SHA-256 over what determines the floats (the checkpoint's identity, the backend and its
 * version, the image shape) and the block's image bytes. No dataset name or index is trusted: the same images
 * give the same key wherever they come from, other images another key.
 *
 * Two tiers:
 *  - memory: up to `memoryBytes`; once full, new blocks are not kept (a pass over a split larger than the
 *    budget keeps its first part instead of cycling through it and keeping nothing useful);
 *  - disk (opt-in, `dir`): one tensor file per block, <key>.patches.safetensors, with the tensor file's data
 *    and header checksums and the key in its metadata. A file that fails a check is removed and the block is
 *    encoded again (one warning), so a damaged file can cost time but never change a map. Size: 50 KB per
 *    28x28 image (196 x 64 floats), 2.5 GB for a 50,400-image training split; nothing is evicted
 *    (delete the folder to reclaim it).
 */
export const PATCH_CACHE_FORMAT = 'ltl-vlm-patches';
export const PATCH_CACHE_VERSION = '1';

export interface PatchCacheOptions {
  memoryBytes: number;
  /** Folder of the disk tier (none: memory only). */
  dir?: string;
  /** One line per damaged or unwritable file. */
  warn?: (msg: string) => void;
}

export interface PatchCacheStats {
  memoryHits: number;
  diskHits: number;
  misses: number;
  /** Bytes held by the memory tier. */
  memoryBytes: number;
  diskWrites: number;
  /** Disk files that failed their checks (removed and remade). */
  damaged: number;
}

export class PatchCache {
  private readonly memory = new Map<string, Float32Array>();
  private memoryUsed = 0;
  private diskWritable = true;
  private readonly counts = { memoryHits: 0, diskHits: 0, misses: 0, diskWrites: 0, damaged: 0 };

  constructor(private readonly opts: PatchCacheOptions) {
    if (!(opts.memoryBytes >= 0)) throw new Error(`patch cache memory budget must be >= 0, not ${opts.memoryBytes}`);
  }

  get dir(): string | undefined {
    return this.opts.dir;
  }

  get stats(): PatchCacheStats {
    return { ...this.counts, memoryBytes: this.memoryUsed };
  }

  /** The key of a block's embeddings under `identity` (what determines the floats besides the images). */
  static key(identity: Record<string, unknown>, b: ImageBlock): string {
    const spec = canonicalJson({ format: PATCH_CACHE_FORMAT, v: PATCH_CACHE_VERSION, ...identity, count: b.count, height: b.height, width: b.width, channels: b.channels });
    return createHash('sha256').update(spec).update(b.bytes).digest('hex');
  }

  /** The disk file of a key (under `dir`). */
  fileOf(key: string): string | undefined {
    return this.opts.dir ? path.join(this.opts.dir, `${key}.patches.safetensors`) : undefined;
  }

  /** Whether a key is kept (in memory, or a file on disk, not yet checked). */
  has(key: string): boolean {
    if (this.memory.has(key)) return true;
    const file = this.fileOf(key);
    return !!file && fs.existsSync(file);
  }

  /** A block's embeddings ([count, ...shape], `floats` in all) if kept; do not modify the array. */
  get(key: string, shape: number[]): Float32Array | undefined {
    const floats = shape.reduce((a, b) => a * b, 1);
    const m = this.memory.get(key);
    if (m && m.length === floats) {
      this.counts.memoryHits++;
      return m;
    }
    const file = this.fileOf(key);
    if (file && fs.existsSync(file)) {
      const got = this.readFile(file, key, shape);
      if (got) {
        this.counts.diskHits++;
        this.keepInMemory(key, got);
        return got;
      }
    }
    this.counts.misses++;
    return undefined;
  }

  /** Keeps a block's embeddings (memory while the budget lasts; the disk tier always, if any). */
  put(key: string, patches: Float32Array, shape: number[], provenance: Record<string, unknown>): void {
    this.keepInMemory(key, patches);
    const file = this.fileOf(key);
    if (!file || !this.diskWritable || fs.existsSync(file)) return;
    try {
      writeTensorFile(file, [['patches', { dtype: 'F32', shape, data: patches }]], {
        format: PATCH_CACHE_FORMAT, version: PATCH_CACHE_VERSION, key, provenance: jsonMetadata(provenance),
      });
      this.counts.diskWrites++;
    } catch (e) {
      // A full disk or a read-only folder costs speed, never maps: stop writing, say so once.
      this.diskWritable = false;
      this.opts.warn?.(`VLM patch cache ${this.opts.dir}: cannot write ${file} (${(e as Error).message}); not writing more patch files in this session`);
    }
  }

  /** Forgets the memory tier (disk files stay). */
  clearMemory(): void {
    this.memory.clear();
    this.memoryUsed = 0;
  }

  private keepInMemory(key: string, patches: Float32Array): void {
    if (this.memory.has(key) || this.memoryUsed + patches.byteLength > this.opts.memoryBytes) return;
    this.memory.set(key, patches);
    this.memoryUsed += patches.byteLength;
  }

  private readFile(file: string, key: string, shape: number[]): Float32Array | undefined {
    try {
      const t = readTensorFile(file, { what: 'VLM patch cache file' });
      const p = t.tensors.get('patches');
      if (t.metadata.format !== PATCH_CACHE_FORMAT || t.metadata.version !== PATCH_CACHE_VERSION) throw new UserError(`it is not a ${PATCH_CACHE_FORMAT} v${PATCH_CACHE_VERSION} file`);
      if (t.metadata.key !== key) throw new UserError(`it holds the key ${String(t.metadata.key).slice(0, 16)}..., not its name's`);
      if (!p || p.dtype !== 'F32' || p.shape.join('x') !== shape.join('x') || t.tensors.size !== 1) {
        throw new UserError(`its tensor is ${p ? `${p.dtype} ${p.shape.join('x')}` : 'missing'}, not F32 ${shape.join('x')}`);
      }
      return p.data as Float32Array;
    } catch (e) {
      if (!(e instanceof UserError) && !(e as NodeJS.ErrnoException).code) throw e;
      this.counts.damaged++;
      this.opts.warn?.(`VLM patch cache file ${file} is unusable (${(e as Error).message}); encoding its images again`);
      try {
        fs.rmSync(file, { force: true });
      } catch {
        /* the rewrite below reports an unwritable folder */
      }
      return undefined;
    }
  }
}
