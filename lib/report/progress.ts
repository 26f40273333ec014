import { displayBundle, newDisplayId } from './display';

/**
 * A text progress line for long notebook cells. In a notebook it is one display updated in place
 * (the executed notebook keeps only the final line); outside one it writes to stderr, at most every
 * `minIntervalMs`. Its `onProgress(done, total)` fits MapRequest.onProgress and similar callbacks.
 */
export interface Progress {
  update(done: number, total: number, note?: string): void;
  onProgress: (done: number, total: number) => void;
  done(note?: string): void;
}

export function formatProgress(label: string, done: number, total: number, elapsedMs: number, note = ''): string {
  const frac = total > 0 ? Math.min(1, done / total) : 0;
  const width = 24;
  const fill = Math.round(frac * width);
  const bar = '#'.repeat(fill) + '-'.repeat(width - fill);
  const secs = elapsedMs / 1000;
  const eta = frac > 0 && frac < 1 ? ` eta ${Math.round((secs / frac) * (1 - frac))}s` : '';
  return `${label} [${bar}] ${done}/${total} (${Math.round(frac * 100)}%) ${secs.toFixed(1)}s${eta}${note ? ' ' + note : ''}`;
}

export function progress(label: string, opts: { minIntervalMs?: number } = {}): Progress {
  const id = newDisplayId('progress');
  const start = Date.now();
  const minInterval = opts.minIntervalMs ?? 500;
  let last = 0;
  let shown = false;
  const show = (text: string, force: boolean) => {
    const now = Date.now();
    if (!force && now - last < minInterval) return;
    last = now;
    displayBundle({ 'text/plain': text }, id, shown);
    shown = true;
  };
  const p: Progress = {
    update(done, total, note) {
      show(formatProgress(label, done, total, Date.now() - start, note), done >= total);
    },
    onProgress: (done, total) => p.update(done, total),
    done(note) {
      show(`${label}: done in ${((Date.now() - start) / 1000).toFixed(1)}s${note ? ' ' + note : ''}`, true);
    },
  };
  return p;
}
