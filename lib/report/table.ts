import { displayBundle, escapeHtml } from './display';

/**
 * The project's one table renderer: rows (plain objects) as HTML (notebooks and reports), aligned text
 * (the CLI, text/plain outputs) or markdown (docs). Numbers are formatted here, once; mean ± std cells
 * come from lib/util/stats (formatMeanStd), which also does the grouping over seeds. danfojs was tried
 * for both and removed (lib/util/stats.ts says why).
 */
export type Cell = string | number | boolean | null | undefined;
export type Row = Record<string, Cell>;

/** Table rows: plain objects, one key per column. */
export type TableInput = readonly object[];

export interface TableOptions {
  columns?: readonly string[];
  caption?: string;
  /** Decimal places for non-integer numbers (default 2). */
  digits?: number;
  /** Rows whose given column equals this value are highlighted (e.g. ours). */
  highlight?: { column: string; value: Cell };
}

export { formatMeanStd } from '../util/stats';

/**
 * A cell as text: integers as they are (unless `fixed`), other numbers with `digits` decimals, objects and arrays as
 * JSON. The tables pass `fixed` for a column that holds any non-integer number, so that a percentage of exactly 57 reads
 * "57.0" beside "57.3" rather than "57", while a column of counts stays "10000".
 */
export function formatCell(v: unknown, digits = 2, fixed = false): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return String(v);
    return Number.isInteger(v) && !fixed ? String(v) : v.toFixed(digits);
  }
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function columnsOf(rows: readonly Row[], columns?: readonly string[]): string[] {
  if (columns) return [...columns];
  const seen: string[] = [];
  for (const r of rows) for (const k of Object.keys(r)) if (!seen.includes(k)) seen.push(k);
  return seen;
}

/** Per column, whether it holds a finite non-integer number (then all its numbers get the same decimals). */
function fixedColumns(rows: readonly Row[], cols: readonly string[]): boolean[] {
  return cols.map((c) => rows.some((r) => { const v = r[c]; return typeof v === 'number' && Number.isFinite(v) && !Number.isInteger(v); }));
}

/** The cells of `rows` as text, column by column consistent (formatCell with the column's `fixed`). */
function formatRows(rows: readonly Row[], cols: readonly string[], digits: number | undefined): string[][] {
  const fixed = fixedColumns(rows, cols);
  return rows.map((r) => cols.map((c, i) => formatCell(r[c], digits, fixed[i])));
}

export function htmlTable(input: TableInput, opts: TableOptions = {}): string {
  const rows = input as readonly Row[];
  const cols = columnsOf(rows, opts.columns);
  const head = cols.map((c) => `<th style="text-align:left;padding:2px 8px">${escapeHtml(c)}</th>`).join('');
  const text = formatRows(rows, cols, opts.digits);
  const body = rows
    .map((r, j) => {
      const hl = opts.highlight && r[opts.highlight.column] === opts.highlight.value ? ' style="background:#fff3c4"' : '';
      const tds = cols.map((c, i) => {
        const align = typeof r[c] === 'number' ? 'right' : 'left';
        return `<td style="text-align:${align};padding:2px 8px">${escapeHtml(text[j][i])}</td>`;
      });
      return `<tr${hl}>${tds.join('')}</tr>`;
    })
    .join('');
  const caption = opts.caption ? `<caption style="caption-side:top;text-align:left;font-weight:bold">${escapeHtml(opts.caption)}</caption>` : '';
  return `<table class="ltl-table" style="border-collapse:collapse">${caption}<thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

/** Columns padded to their widest cell, two spaces apart, a dashed rule under the header ('' for no rows and no columns). */
export function textTable(input: TableInput, opts: TableOptions = {}): string {
  const rows = input as readonly Row[];
  const cols = columnsOf(rows, opts.columns);
  const cells = formatRows(rows, cols, opts.digits);
  const widths = cols.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i].length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i])).join('  ').trimEnd();
  return [opts.caption ?? '', line(cols), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].filter((l, i) => i > 0 || l).join('\n');
}

/** A GitHub markdown table: `|` inside cells escaped, an empty cell written as a single space. */
export function markdownTable(input: TableInput, opts: TableOptions = {}): string {
  const rows = input as readonly Row[];
  const cols = columnsOf(rows, opts.columns);
  const escape = (v: string) => v.replace(/\|/g, '\\|');
  const line = (vals: string[]) => `|${vals.map((v) => (v ? ` ${escape(v)} ` : ' ')).join('|')}|`;
  const table = [line(cols.map((c) => formatCell(c))), `|${cols.map(() => '---').join('|')}|`, ...formatRows(rows, cols, opts.digits).map(line)];
  return (opts.caption ? [opts.caption, '', ...table] : table).join('\n');
}

export function showTable(input: TableInput, opts: TableOptions = {}): void {
  displayBundle({ 'text/html': htmlTable(input, opts), 'text/plain': textTable(input, opts) });
}
