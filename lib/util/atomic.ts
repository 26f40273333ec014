import * as fs from 'node:fs';
import * as path from 'node:path';

/** The temporary sibling writeFileAtomic writes first (`NAME.tmp-PID-MS`), and how removeStaleTemporaries reads one back. */
const temporaryOf = (file: string) => `${file}.tmp-${process.pid}-${Date.now()}`;
const TEMPORARY = /\.tmp-(\d+)-\d+$/;

/**
 * Writes a file atomically: write to a temporary sibling, fsync, rename. A run killed half-way
 * leaves either the old file or the new one, never a torn one; a failure at any step (disk full,
 * permissions, the name taken by a folder) removes the temporary file and throws a system error
 * that names `file` itself (not the temporary name), for lib/util/errors' one-line messages.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const tmp = temporaryOf(file);
  let fd: number | undefined;
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fd = fs.openSync(tmp, 'w');
    // writeFileSync on a descriptor loops until every byte is written (one writeSync may write less).
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd !== undefined) {
      try { fs.closeSync(fd); } catch { /* already failing */ }
    }
    try { fs.rmSync(tmp, { force: true }); } catch { /* nothing to remove, or not allowed to */ }
    throw nameTarget(e, tmp, file);
  }
}

/**
 * Removes the temporary files writeFileAtomic left in `dir` (not recursively) when its process was killed between
 * writing and renaming (`NAME.tmp-PID-MS`): only those whose process is gone, so a live writer's file is never taken.
 * Returns the names removed. The run folder's lock makes this safe for a trainer: no other trainer writes there.
 */
export function removeStaleTemporaries(dir: string, alive: (pid: number) => boolean): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = TEMPORARY.exec(name);
    if (!m || alive(Number(m[1]))) continue;
    try {
      fs.rmSync(path.join(dir, name), { force: true });
      removed.push(name);
    } catch { /* not ours to remove: left */ }
  }
  return removed;
}

/** A system error about the temporary file is reported as an error writing the target. */
function nameTarget(e: unknown, tmp: string, file: string): unknown {
  const err = e as NodeJS.ErrnoException & { dest?: string };
  if (err && typeof err === 'object' && typeof err.code === 'string' && (err.path === tmp || err.path === undefined)) {
    // Errors on the descriptor (write, fsync: ENOSPC, EIO) carry no path; those on the temporary name carry it.
    err.path = file;
    delete err.dest;
    if (err.syscall === 'rename' || err.syscall === 'open') err.syscall = 'write';
    if (typeof err.message === 'string') err.message = err.message.split(tmp).join(file);
  }
  return e;
}

export function writeJsonAtomic(file: string, value: unknown): void {
  writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n');
}
