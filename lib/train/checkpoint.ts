import * as fs from 'node:fs';
import type { EngineState, NamedArray } from './engine';
import { writeFileAtomic } from '../util/atomic';
import { UserError } from '../util/errors';

/**
 * One checkpoint file, written atomically (temp file + fsync + rename), so a run killed at any
 * moment leaves the previous checkpoint or the new one, never a torn one.
 * Layout: "LTLCKPT1" | uint32 LE header length | header JSON | zero pad to 4 | float32 arrays.
 */
const MAGIC = 'LTLCKPT1';

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
  json = Buffer.concat([json, Buffer.alloc((4 - ((12 + json.length) % 4)) % 4, 32)]);
  const prefix = Buffer.alloc(12);
  prefix.write(MAGIC, 0, 'latin1');
  prefix.writeUInt32LE(json.length, 8);
  const bufs = entries.map(([, v]) => Buffer.from(v.data.buffer, v.data.byteOffset, v.data.byteLength));
  writeFileAtomic(file, Buffer.concat([prefix, json, ...bufs]));
}

export function readCheckpoint<H>(file: string): { meta: CheckpointMeta<H>; state: EngineState } {
  const buf = fs.readFileSync(file);
  if (buf.length < 12 || buf.toString('latin1', 0, 8) !== MAGIC) throw new UserError(`checkpoint ${file} is not a checkpoint of this program (wrong magic)`);
  const hlen = buf.readUInt32LE(8);
  let header: Header<H>;
  try {
    header = JSON.parse(buf.toString('utf8', 12, 12 + hlen));
  } catch {
    throw new UserError(`checkpoint ${file} has a corrupt header`);
  }
  let off = 12 + hlen;
  const state: EngineState = { weights: {}, slots: {}, step: header.meta.step };
  for (const a of header.arrays) {
    if (off + 4 * a.length > buf.length) throw new UserError(`checkpoint ${file} is truncated`);
    const data = new Float32Array(a.length);
    new Uint8Array(data.buffer).set(buf.subarray(off, off + 4 * a.length));
    off += 4 * a.length;
    const [kind, ...rest] = a.key.split(':');
    (kind === 'w' ? state.weights : state.slots)[rest.join(':')] = { shape: a.shape, data };
  }
  return { meta: header.meta, state };
}
