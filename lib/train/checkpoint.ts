import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import type { EngineState, NamedArray } from './engine';
import { writeFileAtomic } from '../util/atomic';
import { UserError } from '../util/errors';

/**
 * One checkpoint file, written atomically (temp file + fsync + rename), so a run killed at any
 * moment leaves the previous checkpoint or the new one, never a torn one; and checksummed, so a
 * damaged one is an error naming the file, never a resume from different weights.
 * Layout: "LTLCKPT2" | 32-byte SHA-256 of everything after it | uint32 LE header length |
 * header JSON (space-padded so the arrays start at a multiple of 4) | float32 arrays (LE).
 */
const MAGIC = 'LTLCKPT2';
const MAGIC_V1 = 'LTLCKPT1';
const HASH_AT = 8;
const HLEN_AT = 40;
const HEADER_AT = 44;

export interface CheckpointMeta<H = unknown> {
  /** Last completed epoch (0-based). */
  epoch: number;
  /** The RNG state: every random stream of epoch e is derived from (seed, e), so the seed and the
   * next epoch fix it; stored for the record. */
  rng: { seed: number; nextEpoch: number };
  /** Per-epoch records so far (the jsonl log is rewritten from them on resume). */
  history: H[];
  /** Seconds of training before this point (summed across resumes). */
  trainSeconds: number;
  imagesTrained: number;
  step: number;
  /** Checksums of what the run was made from (dataset, target maps): a resume must find the same. */
  inputs?: unknown;
}

interface Header<H> { meta: CheckpointMeta<H>; arrays: Array<{ key: string; shape: number[]; length: number }> }

/** Writes a checkpoint atomically; the optimizer step count is taken from the engine state. */
export function writeCheckpoint<H>(file: string, meta: Omit<CheckpointMeta<H>, 'step'>, state: EngineState): void {
  const entries: Array<[string, NamedArray]> = [
    ...Object.entries(state.weights).map(([k, v]) => [`w:${k}`, v] as [string, NamedArray]),
    ...Object.entries(state.slots).map(([k, v]) => [`s:${k}`, v] as [string, NamedArray]),
  ];
  const header: Header<H> = { meta: { ...meta, step: state.step }, arrays: entries.map(([key, v]) => ({ key, shape: v.shape, length: v.data.length })) };
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  json = Buffer.concat([json, Buffer.alloc((4 - ((HEADER_AT + json.length) % 4)) % 4, 32)]);
  const hlen = Buffer.alloc(4);
  hlen.writeUInt32LE(json.length, 0);
  const bufs = entries.map(([, v]) => Buffer.from(v.data.buffer, v.data.byteOffset, v.data.byteLength));
  const body = [hlen, json, ...bufs];
  const h = createHash('sha256');
  for (const b of body) h.update(b);
  writeFileAtomic(file, Buffer.concat([Buffer.from(MAGIC, 'latin1'), h.digest(), ...body]));
}

export function readCheckpoint<H>(file: string): { meta: CheckpointMeta<H>; state: EngineState } {
  const buf = fs.readFileSync(file);
  const bad = (what: string) => new UserError(`checkpoint ${file} is corrupt: ${what}; delete it to restart the run from its first epoch`);
  const magic = buf.toString('latin1', 0, Math.min(8, buf.length));
  if (magic === MAGIC_V1) {
    throw new UserError(`checkpoint ${file} was written by an older ltl without a checksum and cannot be verified; delete it to restart the run`);
  }
  if (buf.length < HEADER_AT || magic !== MAGIC) {
    throw new UserError(`checkpoint ${file} is ${buf.length < HEADER_AT ? `truncated (${buf.length} bytes)` : `not a checkpoint of this program (magic ${JSON.stringify(magic)}, expected ${JSON.stringify(MAGIC)})`}; delete it to restart the run from its first epoch`);
  }
  const got = createHash('sha256').update(buf.subarray(HLEN_AT)).digest();
  if (!got.equals(buf.subarray(HASH_AT, HLEN_AT))) {
    throw bad(`checksum mismatch (SHA-256 ${got.toString('hex').slice(0, 12)}..., stored ${buf.toString('hex', HASH_AT, HASH_AT + 6)}...): it was damaged after it was written`);
  }
  // Past the checksum, a malformed file is one this program did not write: still one clear line.
  const hlen = buf.readUInt32LE(HLEN_AT);
  if (HEADER_AT + hlen > buf.length) throw bad(`the header length ${hlen} runs past the end of the file`);
  let header: Header<H>;
  try {
    header = JSON.parse(buf.toString('utf8', HEADER_AT, HEADER_AT + hlen));
  } catch {
    throw bad('its header is not valid JSON');
  }
  const m = header?.meta;
  if (!m || !Array.isArray(header.arrays) || !Number.isInteger(m.epoch) || !Number.isInteger(m.step) || !Array.isArray(m.history)) throw bad('its header lacks the epoch, step, history or array list');
  let off = HEADER_AT + hlen;
  const state: EngineState = { weights: {}, slots: {}, step: m.step };
  for (const a of header.arrays) {
    if (off + 4 * a.length > buf.length) throw bad(`array ${a.key} runs past the end of the file`);
    const data = new Float32Array(a.length);
    new Uint8Array(data.buffer).set(buf.subarray(off, off + 4 * a.length));
    off += 4 * a.length;
    const [kind, ...rest] = a.key.split(':');
    (kind === 'w' ? state.weights : state.slots)[rest.join(':')] = { shape: a.shape, data };
  }
  if (off !== buf.length) throw bad(`${buf.length - off} unexpected bytes after the arrays`);
  return { meta: m, state };
}
