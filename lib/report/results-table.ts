import * as fs from 'node:fs';
import { parseOptionallySealedJson } from '../util/sealed';
import * as path from 'node:path';
import { PAPER_DEFAULTS, resolveConfig, type TrainConfig } from '../train/config';
import { RUN_FILE_NAMES } from '../train/run-folder';
import { canonicalJson } from '../util/canonical-json';
import { UserError } from '../util/errors';
import { writeFileAtomic } from '../util/atomic';
import { formatMeanStd, groupBy } from '../util/stats';
import { markdownTable } from './table';

/**
 * The measured-results tables of docs/results.md, made from committed run files only
 * (docs/results/**\/result.json, each the trainer's result.json, and diverged.json for a run that diverged: the
 * trainer's DivergedRun record), never typed in: runs are grouped by their configuration without the seed (and the
 * engine, which changes speed, not numbers), one row per group. A diverged seed counts in its row: its test accuracy at
 * the epoch validation selects among the epochs it completed joins the selected-epoch columns, and it has no final
 * epoch. `scripts/results-table.ts` rewrites the text between the markers.
 */
export const RESULTS_BEGIN = '<!-- results-table:begin (made by scripts/results-table.ts from docs/results/**/result.json; do not edit) -->';
export const RESULTS_END = '<!-- results-table:end -->';
/** The earlier study's table (docs/results-v1: MNIST rows on the embedded VLM v1, every row selected by val-rr). */
export const RESULTS_V1_BEGIN = '<!-- results-table-v1:begin (made by scripts/results-table.ts from docs/results-v1/**/result.json; do not edit) -->';
export const RESULTS_V1_END = '<!-- results-table-v1:end -->';

/** The fields of a trainer result.json the table reads. */
export interface RunFile {
  file: string;
  config: TrainConfig;
  selectBy: string;
  selectedEpoch: number;
  /** Null for a run that diverged before completing an epoch. */
  valAccSelected: number | null;
  testAccSelected: number | null;
  /** Null for a run that diverged (it has no final epoch). */
  testAccFinal: number | null;
  valExcludedShareSelected?: number | null;
  valCfAccSelected?: number | null;
  /** The prompt constraint's record: its maps' provenance names the VLM checkpoint (result.json `prompts`). */
  prompts?: { provenance?: Array<{ generatorId?: Record<string, unknown> }> } | null;
  epochs: unknown[];
  /** Set for a diverged run (diverged.json): the trainer's message. */
  diverged?: string;
}

export interface ResultRow {
  dataset: string;
  method: string;
  /** The settings that set the group apart, as `ltl train` flags. */
  settings: string;
  selectBy: string;
  seeds: number[];
  valSelected: number[];
  testSelected: number[];
  testFinal: number[];
  excludedSelected: number[];
  valCfSelected: number[];
  /** The embedded VLM checkpoints (identity, first 8 hex digits) its runs' maps came from. */
  vlms: string[];
  /** Seeds that diverged (they are in `seeds` too). */
  diverged: number[];
  files: string[];
}

/** Every result.json below a folder (sorted, so the table does not depend on directory order). */
export function findResultFiles(root: string): string[] {
  if (!fs.existsSync(root)) return [];
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && (e.name === RUN_FILE_NAMES.result || e.name === RUN_FILE_NAMES.diverged)) out.push(p);
    }
  };
  walk(root);
  return out.sort();
}

export function readRunFile(file: string): RunFile {
  let r: any;
  if (path.basename(file) === RUN_FILE_NAMES.diverged) {
    r = parseOptionallySealedJson(fs.readFileSync(file, 'utf8'), file, 'diverged-run record');
    for (const k of ['config', 'diverged', 'selectedEpoch', 'valAccSelected', 'testAccSelected'] as const) {
      if (r?.[k] === undefined) throw new UserError(`${file} is not a trainer diverged.json: it has no '${k}'`);
    }
    return { file, ...r, testAccFinal: null };
  }
  r = parseOptionallySealedJson(fs.readFileSync(file, 'utf8'), file, 'result'); // results from before checksums have none
  for (const k of ['config', 'selectedEpoch', 'valAccSelected', 'testAccSelected', 'testAccFinal'] as const) {
    if (r?.[k] === undefined) throw new UserError(`${file} is not a trainer result.json: it has no '${k}'`);
  }
  return { file, ...r };
}

/** Keys that do not make a different setting: the seed varies within a row, the engine changes only speed. */
const NOT_SETTINGS = new Set(['seed', 'engine']);

const flag = (k: string) => '--' + k.replace(/[A-Z]/g, (m) => '-' + m.toLowerCase());

/** The config `ltl train` resolves for a dataset and method with nothing else set. */
function methodDefaults(c: Pick<TrainConfig, 'dataset' | 'method'>): TrainConfig {
  try { return resolveConfig({ dataset: c.dataset, method: c.method }); } catch { return { ...PAPER_DEFAULTS, dataset: c.dataset, method: c.method }; }
}

/** The settings of a config that differ from that method's defaults on that dataset, as flags. */
export function settingsLabel(c: TrainConfig): string {
  const base = methodDefaults(c);
  const parts: string[] = [];
  for (const k of Object.keys(c).sort()) {
    if (NOT_SETTINGS.has(k) || k === 'dataset' || k === 'method') continue;
    const v = (c as any)[k], d = (base as any)[k];
    if (JSON.stringify(v) === JSON.stringify(d)) continue;
    const show = (x: unknown) => (typeof x === 'string' ? (/^[\w.\/-]+$/.test(x) ? x : JSON.stringify(x)) : String(x));
    if (Array.isArray(v)) v.forEach((x) => parts.push(`${flag(k).replace(/s$/, '')} ${show(x)}`));
    else parts.push(`${flag(k)} ${show(v)}`);
  }
  return parts.join(' ');
}

const METHOD_ORDER = ['vanilla', 'align', 'rrr'];

/** The config's method, with the study's name for the setting when the file sits in docs/results/<dataset>/<name>/seed-<n>/
 * (e.g. "rrr (rrr-prompt)"), so rows read without decoding the settings column. */
function methodLabel(r: RunFile): string {
  const parts = r.file.split(/[\\/]/);
  const name = parts.length >= 3 && /^seed-\d+$/.test(parts[parts.length - 2]) ? parts[parts.length - 3] : undefined;
  return name && name !== r.config.method && parts[parts.length - 4] === r.config.dataset ? `${r.config.method} (${name})` : r.config.method;
}

/** Groups runs into rows (dataset, method, settings), sorted by dataset, method, settings. */
export function resultRows(runs: readonly RunFile[]): ResultRow[] {
  // An option added after a run was made is absent from its config: it ran with the option's default (a new option's
  // default keeps the old behaviour), so configs are compared with the method's defaults filled in.
  const withDefaults = (c: TrainConfig) => ({ ...methodDefaults(c), ...c });
  const groups = groupBy(runs, (r) => canonicalJson(Object.fromEntries(Object.entries(withDefaults(r.config)).filter(([k]) => !NOT_SETTINGS.has(k)))));
  const rows = [...groups.values()].map((members) => {
    const first = members[0];
    const g: ResultRow = { dataset: first.config.dataset, method: methodLabel(first), settings: settingsLabel(first.config), selectBy: first.selectBy, seeds: [], valSelected: [], testSelected: [], testFinal: [], excludedSelected: [], valCfSelected: [], vlms: [], diverged: [], files: [] };
    for (const r of members) {
      if (g.seeds.includes(r.config.seed)) throw new UserError(`two result files of the same setting and seed ${r.config.seed}: ${g.files[g.seeds.indexOf(r.config.seed)]} and ${r.file}`);
      g.seeds.push(r.config.seed);
      if (r.diverged !== undefined) g.diverged.push(r.config.seed);
      if (r.valAccSelected !== null) g.valSelected.push(r.valAccSelected);
      if (r.testAccSelected !== null) g.testSelected.push(r.testAccSelected);
      if (r.testAccFinal !== null) g.testFinal.push(r.testAccFinal);
      if (typeof r.valExcludedShareSelected === 'number') g.excludedSelected.push(r.valExcludedShareSelected);
      if (typeof r.valCfAccSelected === 'number') g.valCfSelected.push(r.valCfAccSelected);
      for (const p of r.prompts?.provenance ?? []) {
        const id = p.generatorId?.checkpoint;
        if (typeof id === 'string' && !g.vlms.includes(id.slice(0, 8))) g.vlms.push(id.slice(0, 8));
      }
      g.files.push(r.file);
    }
    return g;
  });
  const order = (m: string) => { const i = METHOD_ORDER.indexOf(m.split(' ')[0]); return i >= 0 ? i : METHOD_ORDER.length; };
  return rows.sort((a, b) => a.dataset.localeCompare(b.dataset) || order(a.method) - order(b.method) || a.settings.localeCompare(b.settings));
}

/** The cells of a row as every results table shows them: accuracies in %, mean ± sample std over seeds. */
export interface ResultCells {
  dataset: string;
  method: string;
  settings: string;
  selectBy: string;
  /** The VLM checkpoints of its maps ('-': no embedded maps). */
  vlm: string;
  seeds: string;
  valSelected: string;
  /** '-' unless every seed recorded it. */
  valCfSelected: string;
  testSelected: string;
  testFinal: string;
  /** '-' unless every seed recorded it. */
  excludedSelected: string;
}

export function resultCells(r: ResultRow): ResultCells {
  const pct = (v: number[]) => (v.length ? formatMeanStd(v, { percent: true, digits: 2 }) : '-');
  const sorted = (v: number[]) => [...v].sort((a, b) => a - b).join(', ');
  // diverged seeds: named in the seeds cell; the final-epoch cell says over how many finished seeds it is
  const finished = r.seeds.length - r.diverged.length;
  return {
    dataset: r.dataset, method: r.method, settings: r.settings || '(defaults)', selectBy: r.selectBy, vlm: r.vlms.length ? [...r.vlms].sort().join(', ') : '-',
    seeds: `${r.seeds.length} (${sorted(r.seeds)})` + (r.diverged.length ? `; diverged: ${sorted(r.diverged)}` : ''),
    valSelected: pct(r.valSelected), valCfSelected: r.valCfSelected.length === r.seeds.length ? pct(r.valCfSelected) : '-', testSelected: pct(r.testSelected),
    testFinal: r.diverged.length ? (finished ? `${pct(r.testFinal)} (${finished} finished)` : 'diverged') : pct(r.testFinal),
    excludedSelected: r.excludedSelected.length === r.seeds.length ? pct(r.excludedSelected) : '-',
  };
}

/** Column titles of docs/results.md's table, in order. */
const MARKDOWN_TITLES: Record<keyof ResultCells, string> = {
  dataset: 'dataset', method: 'method', settings: 'settings', selectBy: 'selected by', vlm: 'VLM', seeds: 'seeds', valSelected: 'val acc (selected)',
  valCfSelected: 'val-cf acc (selected)', testSelected: 'test acc (val-selected epoch)', testFinal: 'test acc (final epoch)', excludedSelected: 'val excluded share (selected)',
};

/** Table rows with the given column titles (in the titles' order). */
export function titledResultRows(rows: readonly ResultRow[], titles: Record<keyof ResultCells, string>): Record<string, string>[] {
  return rows.map((r) => {
    const c = resultCells(r);
    return Object.fromEntries((Object.keys(titles) as (keyof ResultCells)[]).map((k) => [titles[k], c[k]]));
  });
}

/** The rows as one markdown table (accuracies in %, mean ± sample std over seeds). */
export function renderResultsTable(rows: readonly ResultRow[]): string {
  const columns = Object.values(MARKDOWN_TITLES);
  return markdownTable(rows.length ? titledResultRows(rows, MARKDOWN_TITLES) : [{ dataset: '(no result files yet)' }], { columns });
}

/** Replaces the text between the markers (which must each occur exactly once, in order). */
export function replaceBetweenMarkers(text: string, body: string, begin = RESULTS_BEGIN, end = RESULTS_END): string {
  const i = text.indexOf(begin), j = text.indexOf(end);
  if (i < 0 || j < 0 || j < i || text.indexOf(begin, i + 1) >= 0 || text.indexOf(end, j + 1) >= 0) {
    throw new UserError(`the file must hold the markers once each, in order:\n${begin}\n${end}`);
  }
  return text.slice(0, i + begin.length) + '\n' + body + '\n' + text.slice(j);
}

/** Rewrites an optional generated section of `mdFile`, the body between `begin` and `end`, when the file has those
 * markers; false when it has neither (a file may leave the section out). The body is made only when needed. */
export function updateOptionalSection(mdFile: string, begin: string, end: string, body: () => string): boolean {
  const text = fs.readFileSync(mdFile, 'utf8');
  if (!text.includes(begin) && !text.includes(end)) return false;
  const next = replaceBetweenMarkers(text, body(), begin, end);
  if (next !== text) writeFileAtomic(mdFile, next);
  return true;
}

/** Reads every result under `resultsDir` and rewrites the table between the markers of `mdFile` (the main table's, or
 * another pair, e.g. the earlier study's). Returns the rows. */
export function updateResultsMarkdown(resultsDir: string, mdFile: string, markers: { begin: string; end: string } = { begin: RESULTS_BEGIN, end: RESULTS_END }): ResultRow[] {
  const rows = resultRows(findResultFiles(resultsDir).map(readRunFile));
  const rel = (f: string) => path.relative(path.dirname(mdFile), f).split(path.sep).join('/');
  const table = renderResultsTable(rows) + '\n\nFrom ' + (rows.length ? rows.reduce((a, r) => a + r.files.length, 0) + ' run file(s) under `' + rel(resultsDir) + '/`.' : '`' + rel(resultsDir) + '/` (empty).');
  const text = fs.readFileSync(mdFile, 'utf8');
  const next = replaceBetweenMarkers(text, table, markers.begin, markers.end);
  if (next !== text) writeFileAtomic(mdFile, next);
  return rows;
}
