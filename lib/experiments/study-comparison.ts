import * as path from 'node:path';
import { findResultFiles, readRunFile, updateOptionalSection, type RunFile } from '../report/results-table';
import { markdownTable } from '../report/table';
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
  { method: 'Counterfactual augmentation from prompts (ours: the language recipe)', studyRow: 'language', annotation: 'no (prompt)' },
  { method: 'Counterfactual augmentation, annotated (its twin)', studyRow: 'language-annotation', annotation: 'yes' },
  { method: "Counterfactual augmentation, annotated, at the recipe's settings (A = 11, background swap)", studyRow: 'language-annotation-recipe', annotation: 'yes' },
  { method: 'Clean reference (no shortcut to learn)', studyRow: 'clean', annotation: '—' },
];

/** The committed study's run files by "<dataset>/<row>" (docs/results/<dataset>/<row>/seed-<n>/<run file> only); an
 * empty map for a missing folder. */
export function committedStudyRuns(root = committedResultsDir()): Map<string, RunFile[]> {
  const runs = new Map<string, RunFile[]>();
  for (const file of findResultFiles(root)) {
    const parts = path.relative(root, file).split(path.sep);
    if (parts.length !== 4 || !/^seed-\d+$/.test(parts[2])) continue;
    const key = `${parts[0]}/${parts[1]}`;
    runs.set(key, [...(runs.get(key) ?? []), readRunFile(file)]);
  }
  return runs;
}

/** "mean ± std (n seeds)" of the committed runs of one study row (diverged seeds at their selected epoch among the
 * epochs they completed, and counted), or "not run". */
export function studyCell(runs: Map<string, RunFile[]>, dataset: string, row: string): string {
  const g = runs.get(`${dataset}/${row}`) ?? [];
  if (!g.length) return 'not run';
  const t = g.flatMap((r) => (r.testAccSelected === null ? [] : [r.testAccSelected]));
  const diverged = g.filter((r) => r.diverged !== undefined).length;
  return `${t.length ? formatMeanStd(t, { percent: true, digits: 1 }) : '-'} (${g.length} seed${g.length === 1 ? '' : 's'}${diverged ? `, ${diverged} diverged` : ''})`;
}

/** Rows for notebook 04: published vs the committed study, on ColorMNIST, DecoyMNIST and decoymnist-hard (no
 * published numbers: the paper does not use it). Never fails on a missing folder: every study cell is then "not run". */
export function studyComparisonRows(root = committedResultsDir()): Record<string, string>[] {
  const runs = committedStudyRuns(root);
  return STUDY_COMPARISON.map((c) => {
    const p = PUBLISHED_RESULTS.find((x) => x.method === c.method);
    return {
      method: c.method,
      'ColorMNIST: paper': p?.colormnist ?? '—',
      'ColorMNIST: study': studyCell(runs, 'colormnist', c.studyRow),
      'DecoyMNIST: paper': p?.decoymnist ?? '—',
      'DecoyMNIST: study': studyCell(runs, 'decoymnist', c.studyRow),
      'decoymnist-hard: study': studyCell(runs, 'decoymnist-hard', c.studyRow),
      annotation: c.annotation,
    };
  });
}

export const COMPARISON_BEGIN = '<!-- study-comparison:begin (made by scripts/results-table.ts from docs/results/**/result.json; do not edit) -->';
export const COMPARISON_END = '<!-- study-comparison:end -->';

/** Rewrites the paper-vs-study table between the comparison markers of `mdFile`, when it has them (returns false
 * when it has none: the section is optional). */
export function updateComparisonMarkdown(resultsDir: string, mdFile: string): boolean {
  return updateOptionalSection(mdFile, COMPARISON_BEGIN, COMPARISON_END, () => markdownTable(studyComparisonRows(resultsDir)));
}
