import * as fs from 'node:fs';
import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical-json';
import { writeFileAtomic } from './atomic';
import { UserError } from './errors';

/**
 * Sealed JSON: a JSON object written with one extra key, SEAL_KEY, the SHA-256 of the canonical
 * JSON (sorted keys) of everything else. Reading checks it, so a damaged or hand-edited file is a
 * one-line error naming it, never a silently different value. Key order and whitespace do not matter.
 */
export const SEAL_KEY = 'sha256';

export function sealDigest(value: Record<string, unknown>): string {
  const { [SEAL_KEY]: _s, ...rest } = value;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex');
}

/** The object with its seal added (an existing seal is replaced). */
export function seal<T extends object>(value: T): T & { [SEAL_KEY]: string } {
  const { [SEAL_KEY]: _s, ...rest } = value as Record<string, unknown>;
  // Digest of the value as JSON will hold it (undefined dropped, NaN -> null, dates as strings), so a reader agrees.
  return { ...(rest as T), [SEAL_KEY]: sealDigest(JSON.parse(JSON.stringify(rest))) };
}

/** The object without its seal key. */
export function unseal<T>(value: T & { [SEAL_KEY]?: string }): T {
  const { [SEAL_KEY]: _s, ...rest } = value as Record<string, unknown>;
  return rest as T;
}

/** Writes `value` sealed, atomically (temporary file, fsync, rename). */
export function writeSealedJson(file: string, value: object): void {
  writeFileAtomic(file, JSON.stringify(seal(value), null, 2) + '\n');
}

/**
 * Reads a sealed JSON object: undefined when the file does not exist; a UserError naming the file
 * and what is wrong when it is not valid JSON, has no seal, or its seal does not match. The seal
 * key is removed from the returned value. `what` names the file's role in messages ("run config").
 */
export function readSealedJson<T>(file: string, what = 'file'): T | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  return parseSealedJson<T>(text, file, what);
}

/** The text as a JSON object, or a UserError naming the file (the first check of both parsers below). */
function parseJsonObject(text: string, file: string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${what} ${file} is corrupt: not valid JSON (${(e as Error).message})`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new UserError(`${what} ${file} is corrupt: not a JSON object`);
  return v as Record<string, unknown>;
}

/** The seal check of an object that has one: the object without it, or a UserError naming the file. */
function checkSeal(obj: Record<string, unknown>, file: string, what: string): Record<string, unknown> {
  const stored = obj[SEAL_KEY];
  if (typeof stored !== 'string') {
    throw new UserError(`${what} ${file} has no '${SEAL_KEY}' checksum (damaged, or written by an older ltl): it cannot be verified`);
  }
  const got = sealDigest(obj);
  if (got !== stored) {
    throw new UserError(`${what} ${file} is corrupt: checksum mismatch (SHA-256 of its content ${got.slice(0, 12)}..., stored ${stored.slice(0, 12)}...); it was damaged or edited after it was written`);
  }
  return unseal(obj);
}

/** The checks of readSealedJson on text already read. */
export function parseSealedJson<T>(text: string, file: string, what = 'file'): T {
  return checkSeal(parseJsonObject(text, file, what), file, what) as T;
}

/**
 * For files that may come from elsewhere without a seal (a custom trainer's result.json, results
 * committed before checksums): a JSON object whose seal, if it has one, must match. A key one
 * character away from the seal's name counts as a damaged seal, so one flipped bit cannot turn a
 * sealed file into an unchecked one.
 */
export function parseOptionallySealedJson<T>(text: string, file: string, what = 'file'): T {
  return parseOptionallySealed<T>(text, file, what).value;
}

/** parseOptionallySealedJson, also saying whether the file carried a (valid) seal. */
export function parseOptionallySealed<T>(text: string, file: string, what = 'file'): { value: T; sealed: boolean } {
  const obj = parseJsonObject(text, file, what);
  if (SEAL_KEY in obj) return { value: checkSeal(obj, file, what) as T, sealed: true };
  const near = Object.keys(obj).find((k) => k.length === SEAL_KEY.length && [...k].filter((c, i) => c !== SEAL_KEY[i]).length === 1);
  if (near) throw new UserError(`${what} ${file} is corrupt: its checksum key reads ${JSON.stringify(near)}, not ${JSON.stringify(SEAL_KEY)}`);
  return { value: obj as T, sealed: false };
}
