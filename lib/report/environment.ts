import * as fs from 'node:fs';
import * as path from 'node:path';
import { initBackend } from '../backend';
import { mnistDir } from '../data/bases/mnist';
import { fashionDir } from '../data/bases/fashion-mnist';
import { defaultCheckpointDir } from '../vlm/embedded/checkpoint';
import { chromiumPath } from './chromium';
import type { Row } from './table';

/** One line of the start-here notebook's environment check. */
export interface EnvCheck extends Row {
  item: string;
  status: 'ok' | 'missing' | 'info';
  detail: string;
}

function idxFiles(dir: string): { ok: boolean; detail: string } {
  if (!fs.existsSync(dir)) return { ok: false, detail: `${dir} does not exist` };
  const files = fs.readdirSync(dir).filter((f) => /idx\d-ubyte(\.gz)?$/.test(f));
  return files.length >= 4 ? { ok: true, detail: `${dir} (${files.length} IDX files)` } : { ok: false, detail: `${dir}: ${files.length} IDX files, need 4` };
}

function folderSummary(dir: string): string {
  const files = fs.readdirSync(dir);
  const bytes = files.reduce((s, f) => s + fs.statSync(path.join(dir, f)).size, 0);
  return `${dir}: ${files.join(', ')} (${(bytes / 1024).toFixed(0)} KiB)`;
}

/**
 * What the notebooks need, checked without side effects beyond initialising the compute backend:
 * runtime versions, backend, base datasets, the embedded VLM checkpoint, Chromium (PNG fallbacks).
 */
export async function checkEnvironment(): Promise<EnvCheck[]> {
  const rows: EnvCheck[] = [];
  let tslabVersion = 'not loaded';
  try {
    tslabVersion = require('tslab').versions.tslab;
  } catch {
    /* outside a notebook */
  }
  rows.push({ item: 'node / tslab', status: 'info', detail: `${process.version} / ${tslabVersion}` });
  const b = await initBackend();
  rows.push({ item: 'compute backend', status: 'ok', detail: `${b.name} (${b.threads} thread(s)): ${b.reason}` });
  const m = idxFiles(mnistDir());
  rows.push({ item: 'MNIST', status: m.ok ? 'ok' : 'missing', detail: m.detail });
  const f = idxFiles(fashionDir());
  rows.push({ item: 'Fashion-MNIST', status: f.ok ? 'ok' : 'missing', detail: f.detail });
  const vlm = defaultCheckpointDir();
  const hasVlm = fs.existsSync(vlm) && fs.readdirSync(vlm).length > 0;
  rows.push({ item: 'embedded VLM checkpoint', status: hasVlm ? 'ok' : 'missing', detail: hasVlm ? folderSummary(vlm) : `${vlm} is missing or empty` });
  const c = chromiumPath();
  rows.push({ item: 'Chromium (static plot copies)', status: c ? 'ok' : 'missing', detail: c ?? 'not found: plots stay interactive-only' });
  return rows;
}
