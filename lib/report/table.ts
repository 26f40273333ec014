import { displayBundle, escapeHtml } from './display';
import { meanStd } from '../util/stats';

/**
 * Tables as HTML (for the reports) plus aligned text. Accepts plain row objects or a danfojs
 * DataFrame (anything with `columns` and `values`; checked in the tslab kernel: groupby/mean results
 * display fine). danfojs' own print is text-only, hence this helper; the notebooks build rows
 * directly because their tables are small.
 */
export type Cell = string | number | boolean | null | undefined;
export type Row = Record<string, Cell>;

export interface TableOptions {
  columns?: readonly string[];
  caption?: string;
  /** Decimal places for non-integer numbers (default 2). */
  digits?: number;
  /** Rows whose given column equals this value are highlighted (e.g. ours). */
  highlight?: { column: string; value: Cell };
}

/** A danfojs DataFrame, or anything else with column names and rows of values. */
export interface FrameLike {
  columns: string[];
  values: readonly unknown[];
}

export type TableInput = readonly object[] | FrameLike;

export function toRows(input: TableInput): Row[] {
  if (Array.isArray(input)) return input as Row[];
  const f = input as FrameLike;
  return f.values.map((vals) => Object.fromEntries(f.columns.map((c, i) => [c, (vals as Cell[])[i]])));
}

export function formatCell(v: Cell, digits = 2): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return String(v);
    return Number.isInteger(v) ? String(v) : v.toFixed(digits);
  }
  return String(v);
}

function columnsOf(rows: readonly Row[], columns?: readonly string[]): string[] {
  if (columns) return [...columns];
  const seen: string[] = [];
  for (const r of rows) for (const k of Object.keys(r)) if (!seen.includes(k)) seen.push(k);
  return seen;
}

export function htmlTable(input: TableInput, opts: TableOptions = {}): string {
  const rows = toRows(input);
  const cols = columnsOf(rows, opts.columns);
  const head = cols.map((c) => `<th style="text-align:left;padding:2px 8px">${escapeHtml(c)}</th>`).join('');
  const body = rows
    .map((r) => {
      const hl = opts.highlight && r[opts.highlight.column] === opts.highlight.value ? ' style="background:#fff3c4"' : '';
      const tds = cols.map((c) => {
        const v = r[c];
        const align = typeof v === 'number' ? 'right' : 'left';
        return `<td style="text-align:${align};padding:2px 8px">${escapeHtml(formatCell(v, opts.digits))}</td>`;
      });
      return `<tr${hl}>${tds.join('')}</tr>`;
    })
    .join('');
  const caption = opts.caption ? `<caption style="caption-side:top;text-align:left;font-weight:bold">${escapeHtml(opts.caption)}</caption>` : '';
  return `<table class="ltl-table" style="border-collapse:collapse">${caption}<thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

export function textTable(input: TableInput, opts: TableOptions = {}): string {
  const rows = toRows(input);
  const cols = columnsOf(rows, opts.columns);
  const cells = rows.map((r) => cols.map((c) => formatCell(r[c], opts.digits)));
  const widths = cols.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i].length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i])).join('  ').trimEnd();
  return [opts.caption ?? '', line(cols), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].filter((l, i) => i > 0 || l).join('\n');
}

export function showTable(input: TableInput, opts: TableOptions = {}): void {
  displayBundle({ 'text/html': htmlTable(input, opts), 'text/plain': textTable(input, opts) });
}


/** "64.88 +- 1.20" (or just the mean for one value); numbers given as fractions are shown in %. */
export function formatMeanStd(values: readonly number[], opts: { percent?: boolean; digits?: number } = {}): string {
  const { mean, std, n } = meanStd(values);
  const k = opts.percent ? 100 : 1;
  const d = opts.digits ?? 2;
  if (n === 0) return '';
  return n > 1 ? `${(mean * k).toFixed(d)} ± ${(std * k).toFixed(d)}` : (mean * k).toFixed(d);
}
