import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * The test files that execute all the notebooks (headless reproduce, JupyterLab in a browser) take
 * turns: each run trains models for minutes on the machine's 2 cores, and `npm test` runs two test
 * files at a time, so running both at once would make each take twice as long (and a notebook's
 * own timeout could then stop it). A directory lock in the temp folder, taken over when its owner
 * process is gone.
 */
const LOCK = path.join(os.tmpdir(), 'ltl-notebook-run.lock');

function ownerAlive(): boolean {
  try {
    const pid = Number(fs.readFileSync(path.join(LOCK, 'pid'), 'utf8'));
    if (!pid) return false;
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function withNotebookRunLock<T>(fn: () => Promise<T> | T, log: (msg: string) => void = () => {}): Promise<T> {
  let waited = false;
  for (;;) {
    try {
      fs.mkdirSync(LOCK);
      fs.writeFileSync(path.join(LOCK, 'pid'), String(process.pid));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      // A lock without a live owner (or one whose pid file is not written yet, given 2 s) is stale.
      const age = Date.now() - (fs.statSync(LOCK, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (!ownerAlive() && age > 2000) {
        fs.rmSync(LOCK, { recursive: true, force: true });
        continue;
      }
      if (!waited) log('waiting for the other notebook run to finish');
      waited = true;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(LOCK, { recursive: true, force: true });
  }
}
