import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError, systemErrorReason, systemErrorToUserError } from './errors';

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
  const created = mkdirs(dir, flag, dir);
  try {
    probeWritable(dir, flag, dir);
  } catch (e) {
    if (created) removeIfEmpty(dir);
    throw e;
  }
  return { created };
}

/** Makes sure `file` can be written: not a folder, its parent folder exists (created) and is writable. */
export function prepareOutFile(file: string, flag = '--out'): void {
  if (fs.existsSync(file) && fs.statSync(file).isDirectory()) throw new UserError(`${flag} ${file} is a folder, not a file`);
  const dir = path.dirname(path.resolve(file));
  mkdirs(dir, flag, file);
  probeWritable(dir, flag, file);
}

/** Removes a folder made by prepareOutDir when a run failed before writing anything worth keeping. */
export function removeIfEmpty(dir: string): void {
  try {
    if (fs.readdirSync(dir).length === 0) fs.rmdirSync(dir);
  } catch {
    /* gone or not ours to remove */
  }
}
