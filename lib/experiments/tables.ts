import { resolveConfig, selectEpoch, type TrainConfig } from '../train';
import { rightReasonsScore } from '../train/selection';
import { formatMeanStd } from '../report/table';
import { settingsLabel } from '../report/results-table';
import { meanStd } from '../util/stats';
import { PUBLISHED_RESULTS } from './published-results';
import { METHOD_LABELS } from './run-specs';
import { distinctRuns } from './runs';
import type { AblationRun, FinishedRun, RunLooks, RunSpec } from './run-types';

/** The notebooks' tables of finished runs (rows for lib/report's tables): results, looks, ablations, selection rules. */

/** Mean +- std over seeds of each (dataset, label) group: the results table. */
export function resultRows(runs: readonly FinishedRun[]): Record<string, string | number>[] {
  const groups = new Map<string, FinishedRun[]>();
  for (const r of runs) {
    const k = `${r.config.dataset}\u0000${r.label}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  const pct = (v: readonly number[]) => formatMeanStd(v, { percent: true, digits: 1 });
  return [...groups.values()].map((g) => {
    const shares = g.map((r) => r.result.valExcludedShareSelected).filter((v): v is number => typeof v === 'number');
    const looks = g.map((r) => r.looks).filter((v): v is RunLooks => !!v);
    return {
      dataset: g[0].config.dataset,
      method: g[0].label + (g.some((r) => r.diverged) ? ` (diverged in ${g.filter((r) => r.diverged).length} of ${g.length} seed(s); completed epochs only)` : ''),
      seeds: g.length,
      'selected by': g[0].result.selectBy ?? g[0].config.select,
      'selected epoch': g.map((r) => r.result.selectedEpoch + 1).join(', '),
      'val acc % (selected epoch)': pct(g.map((r) => r.result.valAccSelected)),
      // the validation right-reasons measure: share of input-gradient energy where the prompts say the evidence is not
      'val excluded share % (selected epoch)': shares.length === g.length ? pct(shares) : '',
      'test acc % (selected epoch)': pct(g.map((r) => r.result.testAccSelected)),
      'test acc % (last epoch)': pct(g.map((r) => r.result.testAccFinal)),
      // measured on test images with the data builder's masks, for the reader only (never selects anything)
      'test: input-gradient energy on the shortcut %': looks.length === g.length ? pct(looks.map((l) => l.shortcut)) : '',
      'train images/s': Math.round(meanStd(g.map((r) => r.result.imagesPerSecond)).mean),
      // Maps that are empty after the target chain (threshold) give no attention signal: worth seeing.
      'empty target maps': g[0].result.targets ? `${g[0].result.targets.empty} of ${g[0].result.trainImages}` : '',
    };
  });
}

/** Our test accuracies (validation-selected epoch, mean +- std over seeds) next to the published ones. */
export function comparisonRows(runs: readonly FinishedRun[], methodOf: Record<string, string>): Record<string, string>[] {
  const ours = (paperMethod: string, ds: string) => {
    const label = Object.keys(methodOf).find((l) => methodOf[l] === paperMethod);
    const g = runs.filter((r) => r.label === label && r.config.dataset === ds);
    if (!g.length) return 'not run';
    return formatMeanStd(g.map((r) => r.result.testAccSelected), { percent: true, digits: 1 }) + (g.some((r) => r.diverged) ? ' (diverged)' : '');
  };
  return PUBLISHED_RESULTS.map((p) => ({
    method: p.method,
    'ColorMNIST: paper': p.colormnist,
    'ColorMNIST: ours': ours(p.method, 'colormnist'),
    'DecoyMNIST: paper': p.decoymnist,
    'DecoyMNIST: ours': ours(p.method, 'decoymnist'),
    annotation: p.annotation,
  }));
}

/** Notebook 04's methods against the paper's rows of docs/method.md section 9. */
export const PAPER_METHOD_OF: Record<string, string> = {
  [METHOD_LABELS.vanilla]: 'Vanilla (no penalty)',
  [METHOD_LABELS.annotation]: 'RRR (input-gradient penalty)',
  [METHOD_LABELS.align]: 'Learning to Look (paper)',
};

/** Where each net looks on test images, in numbers (RunLooks): one row per run. */
export function lookRows(runs: readonly FinishedRun[]): Record<string, string | number>[] {
  return runs.filter((r) => r.looks).map((r) => ({
    dataset: r.config.dataset, method: r.label, seed: r.config.seed, 'epoch (validation-selected)': r.looks!.epoch + 1,
    'test images': r.looks!.images, shortcut: r.looks!.shortcutIs,
    'input-gradient energy on the shortcut %': 100 * r.looks!.shortcut,
    'on the digit (2 px margin) %': 100 * r.looks!.digit,
    'test acc % (that epoch)': 100 * r.result.epochs[r.looks!.epoch]?.testAcc,
  }));
}

/** One row per ablation run, its seed named (a profile may run the ablations with several). */
export function ablationRows(runs: readonly AblationRun[]): Record<string, string | number>[] {
  return runs.map((r) => ({
    factor: r.factor, dataset: r.config.dataset, value: r.value + (r.diverged ? ` (diverged after ${r.result.epochs.length} epochs)` : ''),
    seed: r.config.seed,
    'selected epoch (val-rr)': r.result.selectedEpoch + 1,
    'val acc % (selected)': 100 * r.result.valAccSelected,
    // under the run's own prompts: not comparable between prompt settings (an empty map excludes nothing)
    'val excluded share % (own prompts)': typeof r.result.valExcludedShareSelected === 'number' ? 100 * r.result.valExcludedShareSelected : '',
    'test acc % (selected epoch)': 100 * r.result.testAccSelected,
    'test acc % (last epoch)': 100 * r.result.testAccFinal,
    'test: input-gradient energy on the shortcut %': r.looks ? 100 * r.looks.shortcut : '',
  }));
}

/** The runs of some specs as `ltl train` commands' flags (what differs from that method's defaults), one row each. */
export function specRows(specs: readonly (RunSpec & { factor?: string })[]): Record<string, string>[] {
  return specs.map((s) => {
    const c = resolveConfig(s.config);
    return { ...(s.factor ? { factor: s.factor } : {}), run: s.label, dataset: c.dataset, 'ltl train flags': trainFlags(c) };
  });
}

/**
 * `ltl train` flags that give this config: what differs from the method's defaults (settingsLabel), plus the
 * choices the CLI would otherwise derive from the prompts (--maps, --rrr-mode, --lambda follow --prompt when unset).
 */
export function trainFlags(c: TrainConfig): string {
  const flags = settingsLabel(c);
  const has = (f: string) => flags.split(' ').includes(f);
  const extra: string[] = [];
  if (c.method === 'rrr' && !has('--rrr-mode')) extra.push(`--rrr-mode ${c.rrrMode}`);
  if (c.method !== 'vanilla' && !has('--lambda')) extra.push(`--lambda ${c.lambda}`);
  if ((c.prompt !== null || c.negativePrompts.length > 0) && !has('--maps')) extra.push(`--maps ${c.maps}`);
  return [`--dataset ${c.dataset} --method ${c.method}`, ...extra, flags].filter(Boolean).join(' ');
}

/** What a run's validation excluded share is measured under, in words. */
function measuredUnder(c: TrainConfig): string {
  const parts = [...(c.prompt !== null ? [`"${c.prompt}"`] : []), ...c.negativePrompts.map((p) => `not "${p}"`), ...(c.attributePrompt !== null ? [`attribute "${c.attributePrompt}"`] : [])];
  const spatial = c.prompt !== null || c.negativePrompts.length > 0;
  return parts.length ? parts.join(', ') + (spatial ? ` (${c.maps} maps)` : '') : '(no prompts)';
}

/**
 * The two selection rules on the same runs, from each run's epoch records: the epoch val-acc picks (validation
 * accuracy) and the one val-rr picks (val acc x (1 - validation excluded share)), and the test accuracy at each.
 * The excluded share is measured under each run's own prompts and map source ('measured under').
 */
export function selectionRows(runs: readonly FinishedRun[]): Record<string, string | number>[] {
  return distinctRuns(runs).map((r) => {
    const ep = r.result.epochs;
    const acc = selectEpoch(ep, 'val-acc');
    const rr = selectEpoch(ep, 'val-rr');
    const share = (e: number) => (typeof ep[e].valExcludedShare === 'number' ? 100 * (ep[e].valExcludedShare as number) : '');
    return {
      run: `${r.config.dataset}: ${r.label}`, seed: r.config.seed, 'measured under': measuredUnder(r.config), epochs: ep.length,
      'val-acc picks epoch': acc + 1, 'val acc %': 100 * ep[acc].valAcc, 'excluded share % there': share(acc), 'test acc % there': 100 * ep[acc].testAcc,
      'val-rr picks epoch': rr + 1, 'val-rr score %': 100 * rightReasonsScore(ep[rr]), 'excluded share % at val-rr pick': share(rr), 'test acc % at val-rr pick': 100 * ep[rr].testAcc,
    };
  });
}
