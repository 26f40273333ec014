import * as path from 'node:path';
import { findResultFiles, readRunFile, resultRows, titledResultRows } from './results-table';
import { showTable } from './table';
import { showMarkdown } from './display';
import { projectRoot } from './paths';

/** Where the full-length study publishes its run files (scripts/results-study.ts). */
export function committedResultsDir(): string {
  return path.join(projectRoot(), 'docs', 'results');
}

/**
 * The committed full-length study as table rows (the same grouping and numbers as docs/results.md's generated
 * table): one row per setting, accuracies in %, mean ± sample std over seeds. No rows when the folder holds no
 * result.json yet.
 */
export function committedResultRows(root = committedResultsDir()): Record<string, string>[] {
  return titledResultRows(resultRows(findResultFiles(root).map(readRunFile)), {
    dataset: 'dataset', method: 'method', settings: 'settings', selectBy: 'selected by', vlm: 'VLM', seeds: 'seeds', valSelected: 'val acc %', valCfSelected: 'val-cf acc %',
    testSelected: 'test acc % (val-selected epoch)', testFinal: 'test acc % (final epoch)', excludedSelected: 'val excluded share % (selected)',
  });
}

/** Shows the committed study's table, or says that there is none yet (never fails for an empty folder). */
export function showCommittedResults(root = committedResultsDir()): void {
  const rows = committedResultRows(root);
  const where = path.relative(projectRoot(), root).split(path.sep).join('/') || root;
  if (rows.length === 0) {
    showMarkdown(`No result files under \`${where}/\` yet: the full-length study (\`node --import tsx scripts/results-study.ts\`) publishes each finished run's \`result.json\` there.`);
    return;
  }
  showTable(rows, { caption: `Full-length study: ${findResultFiles(root).length} committed run file(s) under ${where}/ (generated from the files, as docs/results.md)` });
}
