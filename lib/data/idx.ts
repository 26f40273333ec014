import * as fs from 'node:fs';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { UserError } from '../util/errors';

/** A decoded IDX file (the MNIST container format): unsigned bytes with their dimensions. */
export interface IdxArray {
  readonly dims: number[];
  readonly data: Uint8Array;
}

const UBYTE = 0x08;

/**
 * Reads an IDX file of unsigned bytes (optionally gzip-compressed, as Debian ships Fashion-MNIST),
 * validating the magic number, the number of dimensions and the payload length. Every failure
 * names the file and what is wrong with it.
 */
export function readIdx(file: string, expect?: { rank?: number; dims?: (number | undefined)[] }): IdxArray {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw new UserError(`cannot read IDX file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = gunzipSync(buf);
    } catch {
      throw new UserError(`IDX file ${file} is gzip-compressed but cannot be decompressed (truncated or corrupt)`);
    }
  }
  if (buf.length < 4) throw new UserError(`IDX file ${file} is too short (${buf.length} bytes) to hold a header`);
  if (buf[0] !== 0 || buf[1] !== 0) {
    throw new UserError(`${file} is not an IDX file: bad magic number 0x${buf.subarray(0, 4).toString('hex')}`);
  }
  if (buf[2] !== UBYTE) {
    throw new UserError(`IDX file ${file} has element type 0x${buf[2].toString(16)}; only unsigned bytes (0x08) are supported`);
  }
  const rank = buf[3];
  if (rank < 1 || rank > 4) throw new UserError(`IDX file ${file} has an implausible rank ${rank}`);
  if (expect?.rank !== undefined && rank !== expect.rank) {
    throw new UserError(`IDX file ${file} has ${rank} dimensions, expected ${expect.rank}`);
  }
  const headerLen = 4 + 4 * rank;
  if (buf.length < headerLen) throw new UserError(`IDX file ${file} is truncated inside its header`);
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(buf.readUInt32BE(4 + 4 * i));
  expect?.dims?.forEach((d, i) => {
    if (d !== undefined && dims[i] !== d) {
      throw new UserError(`IDX file ${file} has shape [${dims.join(', ')}], expected dimension ${i} to be ${d}`);
    }
  });
  const n = dims.reduce((a, b) => a * b, 1);
  const have = buf.length - headerLen;
  if (have < n) {
    throw new UserError(`IDX file ${file} is truncated: header says [${dims.join('x')}] = ${n} bytes of data, file has ${have}`);
  }
  if (have > n) throw new UserError(`IDX file ${file} has ${have - n} unexpected trailing bytes after its data`);
  return { dims, data: new Uint8Array(buf.buffer, buf.byteOffset + headerLen, n) };
}

/** Finds `name` or `name.gz` in a folder; errors list what was looked for. */
export function findIdx(dir: string, names: string[]): string {
  for (const n of names) {
    for (const candidate of [n, `${n}.gz`]) {
      const p = path.join(dir, candidate);
      if (fs.existsSync(p)) return p;
    }
  }
  throw new UserError(`no IDX file ${names.join(' or ')} (optionally .gz) in ${dir}`);
}
