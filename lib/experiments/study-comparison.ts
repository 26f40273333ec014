import * as path from 'node:path';
import { findResultFiles, readRunFile } from '../report/results-table';
import { committedResultsDir } from '../report/committed-results';
import { formatMeanStd } from '../util/stats';
import { PUBLISHED_RESULTS } from './published-results';

/**
 * The paper's comparison table next to the committed full-length study (docs/results/<dataset>/<row>/seed-<n>/
 * result.json, written by scripts/results-study.ts): every published method beside the study row that runs it on the
 * same data, net and budget, and the language-guided twins (the same terms built from the prompts' masks), which have
 * no published numbers. Test accuracy at the validation-selected epoch, mean ± sample std over the committed seeds.
 */
export interface StudyComparisonRow {
  /** The published method (PUBLISHED_RESULTS), or a twin of ours. */
  method: string;
  /** The study's row folder under docs/results/<dataset>/. */
  studyRow: string;
  annotation: string;
}

export const STUDY_COMPARISON: readonly StudyComparisonRow[] = [
  { method: 'Vanilla (no penalty)', studyRow: 'vanilla', annotation: 'no' },
  { method: 'RRR (input-gradient penalty)', studyRow: 'rrr-annotation', annotation: 'yes' },
  { method: 'Expected Gradients penalty', studyRow: 'eg-annotation', annotation: 'yes' },
  { method: 'CDEP', studyRow: 'cdep-annotation', annotation: 'yes' },
  { method: 'Learning to Look (paper)', studyRow: 'align-embedded', annotation: 'no (prompt)' },
  { method: 'RRR with prompt masks (ours)', studyRow: 'rrr-prompt', annotation: 'no (prompt)' },
  { method: 'Expected Gradients with prompt masks (ours)', studyRow: 'eg-prompt', annotation: 'no (prompt)' },
  { method: 'CDEP with prompt masks (ours)', studyRow: 'cdep-prompt', annotation: 'no (prompt)' },
];

/** "mean ± std (n seeds)" of the committed runs of one study row, or "not run". */
function studyCell(tests: Map<string, number[]>, dataset: string, row: string): string {
  const t = tests.get(`${dataset}/${row}`);
  if (!t?.length) return 'not run';
  return `${formatMeanStd(t, { percent: true, digits: 1 })} (${t.length} seed${t.length === 1 ? '' : 's'})`;
}

/** Rows for notebook 04: published vs the committed study, on ColorMNIST, DecoyMNIST and decoymnist-hard (no
 * published numbers: the paper does not use it). Never fails on a missing folder: every study cell is then "not run". */
export function studyComparisonRows(root = committedResultsDir()): Record<string, string>[] {
  const tests = new Map<string, number[]>();
  for (const file of findResultFiles(root)) {
    const parts = path.relative(root, file).split(path.sep);
    if (parts.length !== 4 || !/^seed-\d+$/.test(parts[2])) continue; // <dataset>/<row>/seed-<n>/result.json only
    const key = `${parts[0]}/${parts[1]}`;
    tests.set(key, [...(tests.get(key) ?? []), readRunFile(file).testAccSelected]);
  }
  return STUDY_COMPARISON.map((c) => {
    const p = PUBLISHED_RESULTS.find((x) => x.method === c.method);
    return {
      method: c.method,
      'ColorMNIST: paper': p?.colormnist ?? '—',
      'ColorMNIST: study': studyCell(tests, 'colormnist', c.studyRow),
      'DecoyMNIST: paper': p?.decoymnist ?? '—',
      'DecoyMNIST: study': studyCell(tests, 'decoymnist', c.studyRow),
      'decoymnist-hard: study': studyCell(tests, 'decoymnist-hard', c.studyRow),
      annotation: c.annotation,
    };
  });
}
