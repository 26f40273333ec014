/**
 * Rewrites the measured-results tables of docs/results.md (between its results-table markers; the paper-vs-study
 * comparison between its study-comparison markers; the harder benchmark between its harder-benchmark markers) from the
 * committed run files docs/results/**\/result.json.
 * Numbers are never typed into those tables.
 *
 * The language recipe's goals table (language-goals markers) comes from the same files; the earlier study's table
 * (results-table-v1 markers) from docs/results-v1.
 *
 *   node --import tsx scripts/results-table.ts [--results DIR] [--results-v1 DIR] [--md FILE] [--check]
 *
 * --check: exit 1 (and change nothing) when the file is not up to date.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { findResultFiles, readRunFile, renderResultsTable, replaceBetweenMarkers, resultRows, updateResultsMarkdown, RESULTS_V1_BEGIN, RESULTS_V1_END } from '../lib/report/results-table';
import { updateLanguageGoalsMarkdown } from '../lib/experiments/language-goals';
import { updateComparisonMarkdown } from '../lib/experiments/study-comparison';
import { updateHarderBenchmarkMarkdown } from '../lib/experiments/harder-benchmark';
import { UserError } from '../lib/util/errors';

/** The generated tables of the file: the results table, and where the file has their markers the paper's comparison,
 * the harder benchmark, the language recipe's goals and the earlier study's table. */
function update(resultsDir: string, md: string, v1Dir: string) {
  const rows = updateResultsMarkdown(resultsDir, md);
  updateComparisonMarkdown(resultsDir, md);
  updateHarderBenchmarkMarkdown(resultsDir, md);
  updateLanguageGoalsMarkdown(resultsDir, md);
  // the earlier study's table, where the file has its markers
  if (fs.readFileSync(md, 'utf8').includes(RESULTS_V1_BEGIN)) updateResultsMarkdown(v1Dir, md, { begin: RESULTS_V1_BEGIN, end: RESULTS_V1_END });
  return rows;
}

function main(argv: string[]): number {
  const root = path.join(__dirname, '..');
  const arg = (name: string, dflt: string) => { const i = argv.indexOf(name); return i >= 0 && argv[i + 1] ? argv[i + 1] : dflt; };
  const resultsDir = arg('--results', path.join(root, 'docs', 'results'));
  const md = arg('--md', path.join(root, 'docs', 'results.md'));
  const v1Dir = arg('--results-v1', path.join(root, 'docs', 'results-v1'));
  if (argv.includes('--check')) {
    const before = fs.readFileSync(md, 'utf8');
    const copy = path.join(path.dirname(md), `.${path.basename(md)}.check-${process.pid}`);
    fs.writeFileSync(copy, before);
    try {
      update(resultsDir, copy, v1Dir);
      const same = fs.readFileSync(copy, 'utf8') === before;
      console.log(same ? `${md} is up to date` : `${md} is out of date: run node --import tsx scripts/results-table.ts`);
      return same ? 0 : 1;
    } finally {
      fs.rmSync(copy, { force: true });
    }
  }
  const rows = update(resultsDir, md, v1Dir);
  console.log(`${md}: ${rows.length} row(s) from ${rows.reduce((a, r) => a + r.files.length, 0)} run file(s) under ${resultsDir}`);
  return 0;
}

// re-exported for tests and notebooks
export { findResultFiles, readRunFile, renderResultsTable, replaceBetweenMarkers, resultRows };

if (require.main === module) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (e) {
    if (e instanceof UserError) { console.error(`results-table: ${e.message}`); process.exitCode = 2; } else throw e;
  }
}
