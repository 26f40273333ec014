import { updateOptionalSection, type RunFile } from '../report/results-table';
import { markdownTable } from '../report/table';
import { committedResultsDir } from '../report/committed-results';
import { meanStd } from '../util/stats';
import { committedStudyRuns, studyCell } from './study-comparison';

/**
 * The language recipe against its goals (issue 28's table): per dataset, vanilla, the language recipe (counterfactual
 * augmentation from the prompts), its annotation twin (as the study first ran it, and at the recipe's own settings), the
 * recipe told that the frame is at one place in every image (the frame sets), and the clean reference (the same net and budget on the same
 * images whose shortcut predicts nothing: the limit), and the goal. A goal is a distance below a reference row's mean
 * test accuracy: the clean reference where the shortcut bites, vanilla where it does not (DecoyMNIST: "no harm"). Every
 * number comes from the committed run files (test accuracy at the validation-selected epoch, mean ± sample std).
 */
export interface LanguageGoal {
  dataset: string;
  title: string;
  /** The row the goal is measured from, and how far below its mean the language recipe may be (points). */
  reference: 'clean' | 'vanilla';
  margin: number;
  /** Whether the negative prompt names a thing at one place in every image (the frame): the recipe also runs with
   * --negative-region shared there (the study's language-shared row). */
  fixedPlace?: boolean;
}

export const LANGUAGE_GOALS: readonly LanguageGoal[] = [
  { dataset: 'decoymnist-hard', title: 'decoymnist-hard (frame decoy)', reference: 'clean', margin: 1, fixedPlace: true },
  { dataset: 'colormnist', title: 'ColorMNIST', reference: 'clean', margin: 2 },
  { dataset: 'decoymnist', title: 'DecoyMNIST (nothing bites)', reference: 'vanilla', margin: 0.5 },
  { dataset: 'decoyfashion-hard', title: 'decoyfashion-hard (Fashion, frame)', reference: 'clean', margin: 3, fixedPlace: true },
  { dataset: 'colorfashion', title: 'colorfashion (Fashion, colour)', reference: 'clean', margin: 5 },
];

const tests = (g: readonly RunFile[] | undefined): number[] => (g ?? []).flatMap((r) => (r.testAccSelected === null ? [] : [r.testAccSelected]));

/** One row per dataset: the cells, and whether the goal is reached (null while a row it needs is not run). */
export function languageGoalRows(root = committedResultsDir()): Array<Record<string, string>> {
  const runs = committedStudyRuns(root);
  return LANGUAGE_GOALS.map((g) => {
    const ref = tests(runs.get(`${g.dataset}/${g.reference}`));
    const lang = tests(runs.get(`${g.dataset}/language`));
    const refMean = 100 * meanStd(ref).mean;
    const goal = ref.length ? refMean - g.margin : null;
    const verdict = (xs: number[]) => {
      const m = 100 * meanStd(xs).mean;
      return goal === null || !xs.length ? 'not yet' : m >= goal ? 'yes' : `no (${(goal - m).toFixed(1)} points short)`;
    };
    const reached = verdict(lang);
    const shared = tests(runs.get(`${g.dataset}/language-shared`));
    return {
      dataset: g.title,
      vanilla: studyCell(runs, g.dataset, 'vanilla'),
      'language recipe': studyCell(runs, g.dataset, 'language'),
      'its annotation twin': studyCell(runs, g.dataset, 'language-annotation'),
      // the same twin at the recipe's own settings (A = 11, the background swap): it differs from the recipe by the region alone
      "twin, recipe's settings": studyCell(runs, g.dataset, 'language-annotation-recipe'),
      'clean reference': studyCell(runs, g.dataset, 'clean'),
      goal: goal === null ? `${g.reference} - ${g.margin}` : `>= ${goal.toFixed(1)} (${g.reference} ${refMean.toFixed(1)} - ${g.margin})`,
      reached,
      // the recipe told that the frame is at one place in every image (--negative-region shared); '—' where the
      // negative prompt names no such thing
      'recipe, one frame region': g.fixedPlace ? studyCell(runs, g.dataset, 'language-shared') : '—',
      'reached (one frame region)': g.fixedPlace ? verdict(shared) : '—',
    };
  });
}

export const GOALS_BEGIN = '<!-- language-goals:begin (made by scripts/results-table.ts from docs/results/**/result.json; do not edit) -->';
export const GOALS_END = '<!-- language-goals:end -->';

/** Rewrites the goals table between its markers of `mdFile`, when it has them (false when it has none). */
export function updateLanguageGoalsMarkdown(resultsDir: string, mdFile: string): boolean {
  return updateOptionalSection(mdFile, GOALS_BEGIN, GOALS_END, () => markdownTable(languageGoalRows(resultsDir)));
}
