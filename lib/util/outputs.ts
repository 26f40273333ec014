import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError, systemErrorReason, systemErrorToUserError } from './errors';
import { TensorFileReader } from './tensor-file';

/**
 * Checks made before a command spends time computing: that its output folder or file can be
 * written (not a file where a folder is needed, not a folder where a file is, writable, not on a
 * full disk). Each failure is one UserError naming the flag and the path.
 */

/** Writes and removes a small probe file in `dir` (catches EACCES, EROFS and a full disk up front). */
function probeWritable(dir: string, flag: string, shown: string): void {
  const probe = path.join(dir, `.ltl-write-probe-${process.pid}-${Date.now()}`);
  try {
    const fd = fs.openSync(probe, 'w');
    try {
      fs.writeSync(fd, Buffer.alloc(4096));
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch (e) {
    try { fs.rmSync(probe, { force: true }); } catch { /* not allowed to either */ }
    const reason = systemErrorReason(e);
    if (!reason) throw e;
    throw new UserError(`${flag} ${shown}: cannot write in ${dir}: ${reason}`);
  }
  fs.rmSync(probe, { force: true });
}

/** The folders from `dir` up that do not exist yet, deepest first. */
function missingFolders(dir: string): string[] {
  const out: string[] = [];
  const anc = existingAncestor(dir);
  for (let d = path.resolve(dir); d !== anc && path.dirname(d) !== d; d = path.dirname(d)) out.push(d);
  return out;
}

/** The first existing ancestor of `p` (itself included), or undefined. */
function existingAncestor(p: string): string | undefined {
  let cur = path.resolve(p);
  for (;;) {
    if (fs.existsSync(cur)) return cur;
    const up = path.dirname(cur);
    if (up === cur) return undefined;
    cur = up;
  }
}

function mkdirs(dir: string, flag: string, shown: string): boolean {
  const anc = existingAncestor(dir);
  if (anc && !fs.statSync(anc).isDirectory()) {
    throw new UserError(anc === path.resolve(dir) ? `${flag} ${shown} is a file, not a folder` : `${flag} ${shown}: ${anc} is a file, not a folder`);
  }
  const created = anc !== path.resolve(dir);
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    const u = systemErrorToUserError(e, flag);
    throw u ?? e;
  }
  return created;
}

/**
 * Makes sure `dir` is a folder this process can write in (creating it and its parents if needed).
 * Returns whether the folder was created here (so a failed start can remove it again).
 */
export function prepareOutDir(dir: string, flag = '--out'): { created: boolean } {
  if (dir.trim() === '') throw new UserError(`${flag} is empty: give the folder to write in`);
  const created = mkdirs(dir, flag, dir);
  try {
    probeWritable(dir, flag, dir);
  } catch (e) {
    if (created) removeIfEmpty(dir);
    throw e;
  }
  return { created };
}

/**
 * What a command writes into an output file, and how to recognise an existing file of that kind. An existing file is
 * replaced only by one of its own kind (a map file by a map file, a PNG by a PNG): a mistyped path must not turn a
 * checkpoint, a sweep plan or a run's result into a figure.
 */
export interface OutputFileKind {
  /** What the file is, as a message names it ("a PNG image"). */
  name: string;
  /** Whether an existing (regular) file is of this kind; reads only what it needs. */
  holds(file: string): boolean;
}

/** The first `n` bytes of a file (fewer if it is shorter). */
function headOf(file: string, n: number): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const buf = Buffer.alloc(n);
    return buf.subarray(0, fs.readSync(fd, buf, 0, n, 0));
  } finally {
    fs.closeSync(fd);
  }
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export const PNG_FILE: OutputFileKind = { name: 'a PNG image', holds: (file) => headOf(file, 8).equals(PNG_SIGNATURE) };

/**
 * A CSV table: text that is not JSON (every JSON artifact of ltl starts with '{' or '['), without NUL bytes (binary
 * files), and either named *.csv or headed by a line of comma-separated names with no spaces ("id,status,attempts,...",
 * as ltl writes them). Text alone is not enough: a README or notes file given to --csv by mistake is text too.
 */
export const CSV_FILE: OutputFileKind = {
  name: 'a CSV table',
  holds: (file) => {
    const head = headOf(file, 4096);
    const text = head.toString('utf8');
    if (head.includes(0) || /^\s*[[{]/.test(text)) return false;
    return /\.csv$/i.test(file) || /^[A-Za-z_][\w.%-]*(,[A-Za-z_][\w.%-]*)+\r?(\n|$)/.test(text);
  },
};

/** A tensor file (safetensors layout) whose metadata names `format` (e.g. 'ltl-maps'). */
export function tensorFileKind(format: string, name: string): OutputFileKind {
  return {
    name,
    holds: (file) => {
      try {
        const r = TensorFileReader.open(file);
        try {
          return r.metadata.format === format;
        } finally {
          r.close();
        }
      } catch {
        return false; // not a tensor file at all, or a damaged one: not recognisably of this kind
      }
    },
  };
}

/**
 * Makes sure `file` can be written: not a folder, its parent folder exists (created) and is writable, and, with
 * `kind`, an existing file there is of that kind (else it is kept and the command stops before computing). Returns the
 * folders it created, deepest first (so a command that fails later can remove them again with removeIfEmpty).
 */
export function prepareOutFile(file: string, flag = '--out', kind?: OutputFileKind): { created: string[] } {
  if (file.trim() === '') throw new UserError(`${flag} is empty: give the file to write`);
  if (fs.existsSync(file) && fs.statSync(file).isDirectory()) throw new UserError(`${flag} ${file} is a folder, not a file`);
  if (kind && fs.existsSync(file) && !kind.holds(file)) {
    throw new UserError(`${flag} ${file} exists and is not ${kind.name}: not overwritten (choose another path, or delete it first)`);
  }
  const dir = path.dirname(path.resolve(file));
  const created = missingFolders(dir);
  mkdirs(dir, flag, file);
  probeWritable(dir, flag, file);
  return { created };
}

/**
 * Checks that the files `names` a command is about to write into folder `dir` are absent or already of `kind` (an
 * export of PNGs replaces earlier PNGs of the same names, never a notes file or a checkpoint that happens to bear one).
 * Call it before writing the first: a refusal writes nothing.
 */
export function checkFilesOfKind(dir: string, names: Iterable<string>, flag: string, kind: OutputFileKind): void {
  for (const name of names) {
    const file = path.join(dir, name);
    if (!fs.existsSync(file)) continue;
    if (fs.statSync(file).isDirectory() || !kind.holds(file)) {
      throw new UserError(`${flag} ${dir}: ${file} exists and is not ${kind.name}: not overwritten (choose another folder, or delete it first)`);
    }
  }
}

/** Removes a folder made by prepareOutDir or prepareOutFile when a run failed before writing anything worth keeping. */
export function removeIfEmpty(dir: string): void {
  try {
    if (fs.readdirSync(dir).length === 0) fs.rmdirSync(dir);
  } catch {
    /* gone or not ours to remove */
  }
}
