import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRng } from '../lib/util/rng';

/** Fault-injection helpers shared by test/util-errors.test.ts, test/util-artifacts.test.ts and test/train-reliability.test.ts. */

export const LTL = path.join(__dirname, '..', 'bin', 'ltl.js');

/** Runs the built `ltl` CLI (npm test builds it first). */
export function ltl(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; user?: string } = {}): SpawnSyncReturns<string> {
  const env = { ...process.env, LTL_MNIST_DIR: '', LTL_DEBUG: '', ...opts.env };
  const cmd = opts.user ? 'runuser' : process.execPath;
  const argv = opts.user ? ['-u', opts.user, '--', process.execPath, LTL, ...args] : [LTL, ...args];
  return spawnSync(cmd, argv, { encoding: 'utf8', env, cwd: opts.cwd });
}

/** The lines a command wrote to stderr, minus progress and warnings: what a user reads as its error. */
export function errorLines(r: { stderr: string }): string[] {
  return r.stderr.split('\n').filter((l) => l.startsWith('ltl: error') || l.startsWith('ltl: internal') || /^\s+at /.test(l));
}

/** Asserts the CLI's rule: exit 1, exactly one error line on stderr, no stack trace; returns that line. */
export function oneLineError(r: SpawnSyncReturns<string>, assert: typeof import('node:assert/strict')): string {
  assert.equal(r.status, 1, `exit code 1 expected, got ${r.status}; stderr:\n${r.stderr}`);
  const lines = errorLines(r);
  assert.equal(lines.length, 1, `one error line expected:\n${r.stderr}`);
  assert.ok(!/\n\s+at /.test(r.stderr), `no stack trace:\n${r.stderr}`);
  assert.match(lines[0], /^ltl: error: /);
  return lines[0];
}

/** Flips one bit of a file in place. */
export function flipBit(file: string, offset: number, bit: number): void {
  const b = fs.readFileSync(file);
  b[offset] ^= 1 << bit;
  fs.writeFileSync(file, b);
}

/** `n` (offset, bit) pairs spread over a file of `size` bytes, from a seeded generator (the same every run). */
export function seededFlips(seed: string, size: number, n: number): Array<{ offset: number; bit: number }> {
  const rng = createRng(`flips:${seed}`);
  return Array.from({ length: n }, () => ({ offset: rng.int(size), bit: rng.int(8) }));
}

/**
 * Starts `ltl train ...` and SIGKILLs it as soon as it reports `epoch N/` on stderr (its checkpoint
 * of that epoch is on disk by then: the trainer writes it before reporting). Resolves when it is gone.
 */
export function trainAndKillAfterEpoch(args: string[], epoch: number): Promise<{ stderr: string; signal: string | null }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [LTL, ...args], { env: { ...process.env, LTL_MNIST_DIR: '' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => {
      stderr += b.toString('utf8');
      if (stderr.includes(`\nepoch ${epoch}/`) || stderr.startsWith(`epoch ${epoch}/`)) child.kill('SIGKILL');
    });
    child.on('close', (_code, signal) => resolve({ stderr, signal }));
  });
}

/** Files left in a folder (recursively) whose names mark a temporary or probe file. */
export function leftovers(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => /\.tmp-|\.ltl-write-probe-/.test(f));
}

/** Whether this process may mount a tmpfs (root in a container that allows it), for real ENOSPC tests. */
export function canMountTmpfs(): boolean {
  if (process.getuid?.() !== 0) return false;
  const dir = fs.mkdtempSync('/tmp/ltl-mount-probe-');
  try {
    const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir]);
    if (r.status !== 0) return false;
    spawnSync('umount', [dir]);
    return true;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Whether tests can run a command as the unprivileged user `nobody` (root + runuser): for real EACCES. */
export function canRunAsNobody(): boolean {
  if (process.getuid?.() !== 0) return false;
  // nobody must also be able to read the package (not so when it lives under /root).
  return spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, LTL, '--help'], { cwd: '/' }).status === 0;
}
