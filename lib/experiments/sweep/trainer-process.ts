import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { UserError } from '../../util/errors';
import { packageRoot } from '../../util/package-root';
import { configToArgs } from './grid';
import { SWEEP_FILE_NAMES } from '../../train/run-folder';
import type { PlannedRun } from './runner';

/** One run of a sweep as a child process: the trainer command, its run, its exit and why it failed. */

export const STDERR_TAIL_CHARS = 2000;

/** The line of a trainer's stderr that says why it failed ("ltl: error: ..."), else its last line. */
export function failureCause(stderr: string): string | undefined {
  const lines = stderr.split(/\r?\n|\r/).map((l) => l.trim()).filter(Boolean);
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = /^ltl: ((?:internal )?error: .*)$/.exec(lines[i]);
    if (m) return m[1];
  }
  return lines[lines.length - 1];
}

/**
 * The command a run executes: $LTL_SWEEP_TRAIN_CMD (a JSON array, or words split on spaces) if
 * set, else this package's `node bin/ltl.js train`.
 */
export function defaultTrainCommand(env: NodeJS.ProcessEnv = process.env): string[] {
  const custom = env.LTL_SWEEP_TRAIN_CMD?.trim();
  if (custom) {
    if (custom.startsWith('[')) {
      let v: unknown;
      try {
        v = JSON.parse(custom);
      } catch {
        v = undefined;
      }
      if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'string')) {
        throw new UserError('LTL_SWEEP_TRAIN_CMD must be a JSON array of strings or a space-separated command');
      }
      return v;
    }
    return custom.split(/\s+/);
  }
  return [process.execPath, path.join(packageRoot(), 'bin', 'ltl.js'), 'train'];
}

export interface TrainerExit {
  code: number | null;
  signal: string | null;
  error?: string;
  stderrTail: string;
}

/** Runs one trainer child; its stdout and stderr go to runs/<id>/sweep-train.log, the stderr tail is kept for errors. */
export function spawnTrainer(cmd: string[], run: PlannedRun, dir: string, env: NodeJS.ProcessEnv, signal: AbortSignal | undefined, onPid: (pid: number | undefined) => void): Promise<TrainerExit> {
  const args = [...cmd.slice(1), ...configToArgs(run.config), '--out', dir, '--json'];
  const log = fs.openSync(path.join(dir, SWEEP_FILE_NAMES.log), 'a');
  fs.writeSync(log, `\n=== ${new Date().toISOString()} ${[cmd[0], ...args].join(' ')}\n`);
  return new Promise((resolve) => {
    let tail = '';
    let settled = false;
    const child = spawn(cmd[0], args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    onPid(child.pid);
    const onAbort = () => child.kill('SIGTERM');
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) onAbort(); // aborted after the last check: 'abort' will not fire again
    child.stdout.on('data', (b: Buffer) => fs.writeSync(log, b));
    child.stderr.on('data', (b: Buffer) => {
      fs.writeSync(log, b);
      tail = (tail + b.toString('utf8')).slice(-STDERR_TAIL_CHARS);
    });
    const finish = (e: TrainerExit) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      fs.closeSync(log);
      resolve(e);
    };
    child.on('error', (err) => finish({ code: null, signal: null, error: err.message, stderrTail: tail }));
    child.on('close', (code, sig) => finish({ code, signal: sig, stderrTail: tail }));
  });
}
