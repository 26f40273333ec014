import * as fs from 'node:fs';
import * as path from 'node:path';
import type { SynonymReport } from '../evaluate/vlm-synonym-report';
import { readSealedJson } from '../util/sealed';
import { UserError } from '../util/errors';
import { writeFileAtomic } from '../util/atomic';
import { replaceBetweenMarkers } from './results-table';

/**
 * The synonym table of docs/embedded-vlm.md, made from committed synonym records (docs/vlm-synonyms/*.json: the
 * `synonyms` report of `ltl vlm eval --json`, sealed, with what word reading made it), never typed: one row per held-out
 * synonym, one column pair per record, and each record's count within the tolerance per list.
 */
export interface SynonymRecord {
  /** Short name of the column ("v2"). */
  label: string;
  /** What reading of untaught words made it, in words. */
  reading: string;
  /** The commit it was measured at. */
  commit: string;
  command: string;
  synonyms: SynonymReport;
}

export const SYNONYM_TABLE_BEGIN = '<!-- synonym-table:begin (made by scripts/synonym-table.ts from docs/vlm-synonyms/*.json; do not edit) -->';
export const SYNONYM_TABLE_END = '<!-- synonym-table:end -->';

/** The records of a folder, in file-name order (a damaged record is one UserError naming it). */
export function readSynonymRecords(dir: string): SynonymRecord[] {
  if (!fs.existsSync(dir)) throw new UserError(`no synonym records: ${dir} does not exist`);
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  if (!files.length) throw new UserError(`no synonym records (*.json) in ${dir}`);
  return files.map((f) => readSealedJson<SynonymRecord>(path.join(dir, f), 'synonym record')!);
}

const pct = (x: number) => `${(100 * x).toFixed(1)} %`;

/** The table (markdown) of the records; they must measure the same concepts and synonyms on the same images. */
export function renderSynonymTable(records: readonly SynonymRecord[]): string {
  if (!records.length) throw new UserError('renderSynonymTable: no records');
  const [first] = records;
  const key = (r: SynonymRecord) => JSON.stringify(r.synonyms.concepts.map((c) => [c.concept, c.images, c.synonyms.map((s) => [s.prompt, s.list])]));
  const odd = records.find((r) => key(r) !== key(first));
  if (odd) throw new UserError(`synonym record '${odd.label}' measures other synonyms or images than '${first.label}': one table needs the same list`);
  const head = ['concept (region, images)', 'list', 'prompt', ...records.flatMap((r) => [`${r.label}: mass`, `${r.label}: read as`, `${r.label}: within ${100 * r.synonyms.tolerance}`])];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  first.synonyms.concepts.forEach((c, ci) => {
    const region = `${c.region === 'object' ? 'dilated object' : c.concept} on ${c.dataset}, first ${c.images}`;
    lines.push(`| ${[`**${c.concept}** (${region})`, '', `"${c.prompt}"`, ...records.flatMap((r) => [pct(r.synonyms.concepts[ci].mass), '', ''])].join(' | ')} |`);
    c.synonyms.forEach((s, si) => {
      const cells = records.flatMap((r) => {
        const x = r.synonyms.concepts[ci].synonyms[si];
        return [pct(x.mass), x.reading ? `\`${x.reading}\`` : '', x.within ? 'yes' : '**no**'];
      });
      lines.push(`| ${['', String(s.list), `"${s.prompt}"`, ...cells].join(' | ')} |`);
    });
  });
  lines.push('');
  for (const r of records) {
    const lists = r.synonyms.lists.map((l) => `list ${l.list}: ${l.within} of ${l.measured}`).join(', ');
    lines.push(`- ${r.label} (${r.reading}; commit ${r.commit}): ${lists} within ${100 * r.synonyms.tolerance} points of their concept's word.`);
  }
  return lines.join('\n');
}

/** `mdFile`'s text as it is and as it should be, with the table between its markers made from the records in `dir`. */
export function synonymTableText(dir: string, mdFile: string): { text: string; next: string } {
  const text = fs.readFileSync(mdFile, 'utf8');
  return { text, next: replaceBetweenMarkers(text, renderSynonymTable(readSynonymRecords(dir)), SYNONYM_TABLE_BEGIN, SYNONYM_TABLE_END) };
}

/** Rewrites the table between the markers of `mdFile` from the records in `dir`; whether the file changed. */
export function updateSynonymTable(dir: string, mdFile: string): boolean {
  const { text, next } = synonymTableText(dir, mdFile);
  if (next !== text) writeFileAtomic(mdFile, next);
  return next !== text;
}
