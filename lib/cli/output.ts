import { textTable } from '../report/table';

/**
 * Output conventions of every `ltl` command: human text on stdout, progress on stderr, and with
 * --json one JSON object as the last stdout line (so scripts can take `tail -n 1`).
 */
export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + '\n');
}

/** Rows as an aligned text table (the project's one renderer, lib/report/table.ts; numbers with 4 decimals). */
export function printTable(rows: Record<string, unknown>[]): void {
  if (rows.length === 0) return;
  console.log(textTable(rows, { digits: 4 }));
}
