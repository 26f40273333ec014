import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { pidAlive, processIdentity, readLock, staleReason, tryAcquireLock, type LockInfo } from '../lib/util/lock';
import { tmpDirs } from './tmp-helpers';

const tmp = tmpDirs('ltl-lock-');

/** The pid of a process that has exited (and been reaped). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  const pid = Number(r.stdout);
  assert.ok(pid > 0 && !pidAlive(pid));
  return pid;
}

function plant(file: string, info: Partial<LockInfo>): void {
  const full: LockInfo = { pid: process.pid, hostname: os.hostname(), startedAt: new Date().toISOString(), heartbeat: Date.now(), token: 'planted', ...info };
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(full));
}

test('a held lock excludes others until released; release leaves a later holder alone', () => {
  const file = path.join(tmp(), 'run', 'lock');
  const a = tryAcquireLock(file);
  assert.ok(a);
  assert.equal(readLock(file)?.pid, process.pid);
  assert.equal(tryAcquireLock(file), null, 'held by a live worker (this process)');
  a.release();
  assert.ok(!fs.existsSync(file));
  const b = tryAcquireLock(file);
  assert.ok(b);
  a.release(); // a second release of the old holder must not remove b's lock
  assert.ok(fs.existsSync(file));
  b.release();
});

test('a lock of a dead worker on this host is stale and taken over at once', () => {
  const file = path.join(tmp(), 'lock');
  plant(file, { pid: deadPid() });
  assert.match(staleReason(readLock(file), Date.now()) ?? '', /is gone/);
  const lock = tryAcquireLock(file);
  assert.ok(lock, 'taken over');
  assert.match(lock.tookOverFrom ?? '', /is gone/);
  assert.equal(readLock(file)?.pid, process.pid);
  assert.notEqual(readLock(file)?.token, 'planted');
  lock.release();
});

test('a dead worker whose trainer child still runs keeps its lock', () => {
  const file = path.join(tmp(), 'lock');
  plant(file, { pid: deadPid(), childPid: process.pid });
  assert.equal(tryAcquireLock(file), null);
  // ... even long after the dead worker's last heartbeat: two trainers must never share a run folder
  plant(file, { pid: deadPid(), childPid: process.pid, heartbeat: Date.now() - 3_600_000 });
  assert.equal(tryAcquireLock(file, { staleMs: 60_000 }), null);
});

test('a live pid that is another process than the one recorded (a reused pid, a restarted container) does not hold the lock', { skip: processIdentity(process.pid) === undefined && 'no /proc here' }, () => {
  const file = path.join(tmp(), 'lock');
  const me = processIdentity(process.pid)!;
  // the lock names this very process: held
  plant(file, { pid: process.pid, pidStart: me });
  assert.equal(tryAcquireLock(file), null);
  // the same pid, recorded for an earlier process (another start time): stale, taken over at once
  plant(file, { pid: process.pid, pidStart: `${me}0` });
  assert.match(staleReason(readLock(file), Date.now()) ?? '', /is another process now \(the pid was reused\)/);
  plant(file, { pid: deadPid(), childPid: process.pid, childStart: 'other-boot:1' });
  const lock = tryAcquireLock(file);
  assert.ok(lock, 'a trainer pid reused by another process keeps nothing');
  assert.equal(readLock(file)?.pidStart, me, 'a new lock records which process holds it');
  lock.setChildPid(process.pid);
  assert.equal(readLock(file)?.childStart, me);
  lock.release();
  // a lock written without identities (before they were recorded) is judged by liveness, as before
  plant(file, { pid: process.pid });
  assert.equal(tryAcquireLock(file), null);
});

test('other hosts: stale only when the heartbeat is older than staleMs', () => {
  const file = path.join(tmp(), 'lock');
  plant(file, { hostname: 'node-017.cluster', pid: 1, heartbeat: Date.now() - 5_000 });
  assert.equal(tryAcquireLock(file, { staleMs: 60_000 }), null, 'fresh heartbeat: alive');
  plant(file, { hostname: 'node-017.cluster', pid: 1, heartbeat: Date.now() - 120_000 });
  const lock = tryAcquireLock(file, { staleMs: 60_000 });
  assert.ok(lock);
  assert.match(lock.tookOverFrom ?? '', /heartbeat 120 s old \(host node-017/);
  lock.release();
});

test('an unreadable lock is stale only once old; a takeover in progress elsewhere is respected', () => {
  const file = path.join(tmp(), 'lock');
  fs.writeFileSync(file, '{"pid": 12');
  assert.equal(tryAcquireLock(file, { staleMs: 60_000 }), null);
  const old = new Date(Date.now() - 120_000);
  fs.utimesSync(file, old, old);
  // Another worker holds the takeover guard right now: leave it to that worker.
  fs.writeFileSync(`${file}.takeover`, '');
  assert.equal(tryAcquireLock(file, { staleMs: 60_000 }), null);
  // A guard left by a worker that died during its takeover is cleared, then the lock is taken.
  fs.utimesSync(`${file}.takeover`, old, old);
  assert.equal(tryAcquireLock(file, { staleMs: 60_000 }), null);
  const lock = tryAcquireLock(file, { staleMs: 60_000 });
  assert.ok(lock);
  lock.release();
});

test('the holder refreshes its heartbeat', async () => {
  const file = path.join(tmp(), 'lock');
  const lock = tryAcquireLock(file, { heartbeatMs: 20 });
  assert.ok(lock);
  const first = readLock(file)!.heartbeat;
  await new Promise((r) => setTimeout(r, 80));
  assert.ok(readLock(file)!.heartbeat > first);
  lock.setChildPid(4242);
  assert.equal(readLock(file)!.childPid, 4242);
  lock.release();
});
