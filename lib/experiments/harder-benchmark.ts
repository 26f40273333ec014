import { updateOptionalSection } from '../report/results-table';
import { markdownTable } from '../report/table';
import { committedResultsDir } from '../report/committed-results';
import { committedStudyRuns, studyCell } from './study-comparison';

/**
 * The harder benchmark of the committed study: Fashion-MNIST items under the two shortcuts of the digit sets (the
 * frame decoy, decoyfashion-hard; the colour rule, colorfashion), trained with language only: every map comes from
 * the embedded VLM's "clothing" (broad checkpoint) and the prompt naming the shortcut, no annotation (but in the
 * annotation twin's row). Test accuracy at the validation-selected epoch,
 * mean ± sample std over the committed seeds (scripts/results-study.ts --only decoyfashion-hard,colorfashion).
 */
export const HARDER_BENCHMARK_DATASETS = [
  { dataset: 'decoyfashion-hard', title: 'Fashion + frame decoy (decoyfashion-hard)' },
  { dataset: 'colorfashion', title: 'Fashion + colour rule (colorfashion)' },
] as const;

export const HARDER_BENCHMARK_ROWS = [
  { method: 'Vanilla (no penalty)', studyRow: 'vanilla' },
  { method: 'Learning to Look (paper: CAM + KL to the prompt map)', studyRow: 'align-embedded' },
  { method: 'RRR with prompt masks (ours)', studyRow: 'rrr-prompt' },
  { method: 'Counterfactual augmentation from prompts (ours: the language recipe)', studyRow: 'language' },
  { method: 'Counterfactual augmentation, annotated (its twin)', studyRow: 'language-annotation' },
  { method: "Counterfactual augmentation, annotated, at the recipe's settings (A = 11, background swap)", studyRow: 'language-annotation-recipe' },
  // only where the negative prompt names a thing at one place in every image (the frame); '—' elsewhere
  { method: 'The recipe, told the frame is at one place in every image (--negative-region shared)', studyRow: 'language-shared', only: ['decoyfashion-hard'] },
  { method: 'Clean reference (no shortcut to learn)', studyRow: 'clean' },
] as const satisfies ReadonlyArray<{ method: string; studyRow: string; only?: readonly string[] }>;

/** Rows for notebook 05 and docs/results.md; every cell "not run" where the folder has no runs. */
export function harderBenchmarkRows(root = committedResultsDir()): Record<string, string>[] {
  const runs = committedStudyRuns(root);
  return HARDER_BENCHMARK_ROWS.map((r) => ({
    method: r.method,
    ...Object.fromEntries(HARDER_BENCHMARK_DATASETS.map((d) => {
      const only: readonly string[] | undefined = 'only' in r ? r.only : undefined;
      return [d.title, only && !only.includes(d.dataset) ? '—' : studyCell(runs, d.dataset, r.studyRow)];
    })),
  }));
}

export const HARDER_BEGIN = '<!-- harder-benchmark:begin (made by scripts/results-table.ts from docs/results/**/result.json; do not edit) -->';
export const HARDER_END = '<!-- harder-benchmark:end -->';

/** Rewrites the harder-benchmark table between its markers of `mdFile`, when it has them (false when it has none). */
export function updateHarderBenchmarkMarkdown(resultsDir: string, mdFile: string): boolean {
  return updateOptionalSection(mdFile, HARDER_BEGIN, HARDER_END, () => markdownTable(harderBenchmarkRows(resultsDir)));
}
