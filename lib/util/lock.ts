import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { writeJsonAtomic } from './atomic';
import { namingFile } from './errors';

/**
 * Exclusive locks on run folders, with stale-lock takeover: a sweep's worker holds sweep.lock of the run it runs
 * (lib/experiments/sweep/runner), and the trainer holds its run folder's train.lock while it trains (lib/train/run-folder).
 */

/** What a run's lock file holds: who runs it, and when that worker last proved it is alive. */
export interface LockInfo {
  pid: number;
  /** The trainer's pid (a sweep worker's child; the trainer itself for its own lock): while it lives, the lock is held. */
  childPid?: number;
  hostname: string;
  startedAt: string;
  /** ms since epoch; refreshed every heartbeatMs while the worker lives. */
  heartbeat: number;
  /** Tells this holder's lock from a later holder's after a takeover. */
  token: string;
  /** Which process `pid` / `childPid` was (processIdentity): a later process that got the same pid (a restarted
   * container's pid 1, a recycled pid) is not the holder. Absent in locks written before, and off Linux. */
  pidStart?: string;
  childStart?: string;
}

export interface LockOptions {
  /** A lock whose heartbeat is older than this is stale, whatever host holds it (default 120 s). */
  staleMs?: number;
  /** How often the holder refreshes its heartbeat (default 15 s, or staleMs / 4 when that is shorter). */
  heartbeatMs?: number;
}

export const DEFAULT_STALE_MS = 120_000;
export const DEFAULT_HEARTBEAT_MS = 15_000;

/** Is a process with this pid alive on this host? (a zombie counts as dead) */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // Linux: a killed process not yet reaped by its parent is a zombie; kill(0) still succeeds.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return false;
  } catch {
    /* no /proc (macOS) or already gone: trust kill(0) */
  }
  return true;
}

/**
 * Linux: which process a pid is, as the boot's id and the process's start time (clock ticks since boot, field 22 of
 * /proc/PID/stat): a pid reused by a later process, or the same pid after a restart, gives another value. undefined
 * when the process is gone or there is no /proc.
 */
export function processIdentity(pid: number): string | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the fields after the command name "(...)" start at field 3 (state); starttime is field 22
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    const boot = fs.readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    return start ? `${boot}:${start}` : undefined;
  } catch {
    return undefined;
  }
}

/** Whether `pid` is alive and is the process the lock recorded (its identity, when recorded and readable). */
function isHolder(pid: number, identity: string | undefined): boolean {
  if (!pidAlive(pid)) return false;
  if (!identity) return true;
  const now = processIdentity(pid);
  return now === undefined || now === identity;
}

export function readLock(file: string): LockInfo | undefined {
  try {
    const v = JSON.parse(fs.readFileSync(file, 'utf8')) as LockInfo;
    if (v && typeof v.pid === 'number' && typeof v.hostname === 'string' && typeof v.heartbeat === 'number') return v;
  } catch {
    /* missing or unreadable */
  }
  return undefined;
}

/**
 * Why a lock is stale, or undefined when its holder may still be alive. On this host: never while
 * its trainer child runs; stale at once when the worker and its trainer are gone. Otherwise (and on
 * other hosts): stale when the heartbeat is older than staleMs (cluster clocks assumed roughly in sync).
 */
export function staleReason(info: LockInfo | undefined, fileMtimeMs: number, opts: LockOptions = {}, now = Date.now()): string | undefined {
  const staleMs = opts.staleMs ?? DEFAULT_STALE_MS;
  if (!info) {
    // Unreadable lock (written by something else, or truncated): judge by file age only.
    return now - fileMtimeMs > staleMs ? `unreadable lock older than ${staleMs} ms` : undefined;
  }
  if (info.hostname === os.hostname()) {
    // On this host process liveness is authoritative: a trainer orphaned by a killed worker keeps the
    // run (its heartbeat has stopped, but a second trainer must never write the same folder).
    if (info.childPid && isHolder(info.childPid, info.childStart)) return undefined;
    if (!isHolder(info.pid, info.pidStart)) {
      return pidAlive(info.pid) ? `worker pid ${info.pid} on ${info.hostname} is another process now (the pid was reused)` : `worker pid ${info.pid} on ${info.hostname} is gone`;
    }
  }
  if (now - info.heartbeat > staleMs) return `heartbeat ${Math.round((now - info.heartbeat) / 1000)} s old (host ${info.hostname}, pid ${info.pid})`;
  return undefined;
}

/** A held lock: keeps its heartbeat fresh until released. */
export class RunLock {
  private timer: NodeJS.Timeout | undefined;
  private released = false;
  private lost_ = false;
  /**
   * Called once when a heartbeat finds the lock taken over (this holder looked stale to another
   * worker, e.g. after a long stall): the holder must stop its trainer, so that two never share a folder.
   */
  onLost: (() => void) | undefined;

  constructor(
    readonly file: string,
    public info: LockInfo,
    heartbeatMs: number,
    /** Set when this lock was taken over from a stale holder. */
    readonly tookOverFrom?: string,
  ) {
    this.timer = setInterval(() => this.beat(), heartbeatMs);
    this.timer.unref();
  }

  /** Records the trainer child's pid (so a killed worker's orphan is not run twice). */
  setChildPid(pid: number | undefined): void {
    const childStart = pid === undefined ? undefined : processIdentity(pid);
    this.info = { ...this.info, childPid: pid, ...(childStart ? { childStart } : {}) };
    if (!childStart) delete this.info.childStart;
    this.beat();
  }

  /** Whether another worker has taken this lock over. */
  get lost(): boolean {
    return this.lost_;
  }

  /** Refreshes the heartbeat, unless another worker has taken the lock over (then reports it once). */
  beat(): void {
    if (this.released || this.lost_) return;
    if (!this.stillMine()) {
      if (!readLock(this.file) && !fs.existsSync(this.file)) return; // folder gone (cleanup): nothing to guard
      this.lost_ = true;
      if (this.timer) clearInterval(this.timer);
      this.onLost?.();
      return;
    }
    this.info = { ...this.info, heartbeat: Date.now() };
    // A takeover between stillMine() and this rename is overwritten; the taker then finds the lock
    // not its own at its next beat and stops (onLost), so one trainer remains either way.
    try {
      writeJsonAtomic(this.file, this.info);
    } catch {
      /* the folder may be gone (test cleanup) or the share briefly unavailable: next beat retries */
    }
  }

  stillMine(): boolean {
    return readLock(this.file)?.token === this.info.token;
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    if (this.timer) clearInterval(this.timer);
    if (this.stillMine()) fs.rmSync(this.file, { force: true });
  }
}

/**
 * Tries to take the lock at `file`. Returns null when a live worker holds it. A stale lock is
 * taken over, guarded by a second exclusive file so two workers never take it over together.
 */
export function tryAcquireLock(file: string, opts: LockOptions = {}): RunLock | null {
  const staleMs = opts.staleMs ?? DEFAULT_STALE_MS;
  // Several beats per stale period, so a live holder never looks stale.
  const heartbeatMs = opts.heartbeatMs ?? Math.min(DEFAULT_HEARTBEAT_MS, staleMs / 4);
  const fresh = createExclusive(file);
  if (fresh) return new RunLock(file, fresh, heartbeatMs);

  const before = statOrUndefined(file);
  if (!before) {
    // Released between our attempt and now: try once more.
    const again = createExclusive(file);
    return again ? new RunLock(file, again, heartbeatMs) : null;
  }
  const held = readLock(file);
  const reason = staleReason(held, before.mtimeMs, opts);
  if (!reason) return null;

  const guard = `${file}.takeover`;
  let guardFd: number;
  try {
    guardFd = fs.openSync(guard, 'wx');
  } catch {
    // Another worker is taking it over; clear its guard only if that worker died doing so.
    const g = statOrUndefined(guard);
    if (g && Date.now() - g.mtimeMs > staleMs) fs.rmSync(guard, { force: true });
    return null;
  }
  try {
    fs.closeSync(guardFd);
    // Re-check under the guard: the holder we judged stale must still be the holder.
    const now = readLock(file);
    const st = statOrUndefined(file);
    if (st && (now?.token !== held?.token || !staleReason(now, st.mtimeMs, opts))) return null;
    fs.rmSync(file, { force: true });
    const mine = createExclusive(file);
    return mine ? new RunLock(file, mine, heartbeatMs, reason) : null;
  } finally {
    fs.rmSync(guard, { force: true });
  }
}

/**
 * Creates the lock with its full content in one step: write a temp file, then link(2) it to the
 * lock name, which fails if the name exists (atomic, also on NFS), so readers never see a torn lock.
 */
function createExclusive(file: string): LockInfo | null {
  const info: LockInfo = {
    pid: process.pid,
    hostname: os.hostname(),
    startedAt: new Date().toISOString(),
    heartbeat: Date.now(),
    token: randomBytes(8).toString('hex'),
  };
  const pidStart = processIdentity(process.pid);
  if (pidStart) info.pidStart = pidStart;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${info.token}.tmp`;
  try {
    // Inside the try: a full disk fails this write, and the finally removes the temporary file it began.
    namingFile(file, () => fs.writeFileSync(tmp, JSON.stringify(info, null, 2) + '\n'));
    fs.linkSync(tmp, file);
    return info;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return null;
    throw e;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

function statOrUndefined(file: string): fs.Stats | undefined {
  try {
    return fs.statSync(file);
  } catch {
    return undefined;
  }
}
