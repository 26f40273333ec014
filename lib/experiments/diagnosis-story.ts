import type { ShortcutDataset } from '../data/types';
import type { TrainConfig } from '../train/config';
import { applyRecipe } from '../train/recipes';
import { attentionOfRun, diagnoseRun, type DiagnoseOptions } from '../diagnose';
import type { Row } from '../report/table';
import type { Diagnosis } from '../diagnose/types';
import type { Profile } from './profiles';
import { profileConfig } from './run-specs';
import type { FinishedRun, RunSpec } from './run-types';

/**
 * Notebook 06's story: train vanilla, diagnose it with language (lib/diagnose), fix the shortcut with the prompt that
 * names it (the language recipe: counterfactual augmentation of what the prompts name), diagnose again.
 */

/** The candidate prompts of each kind of shortcut: the object, the frame decoy, a shape that is not there; and on a
 * colour dataset the object and the attribute "colour". */
export const DIAGNOSIS_CANDIDATES = {
  frame: { prompts: ['a digit', 'a frame', 'a square'] },
  colour: { prompts: ['a digit'], attributePrompts: ['colour'] },
} as const;

/** A vanilla run of the profile (no prompts: nothing is measured with them while it trains). */
export function vanillaSpec(profile: Profile, dataset: string, seed = profile.seeds[0]): RunSpec {
  return { label: 'vanilla', config: profileConfig(profile, dataset, 'vanilla', seed, { attentionEpoch: 0 }) };
}

/** The language recipe (lib/train/recipes.ts) of the profile with the given prompts, e.g. { negativePrompts: ['a frame'] }. */
export function languageFixSpec(profile: Profile, dataset: string, prompts: Pick<Partial<TrainConfig>, 'prompt' | 'negativePrompts' | 'attributePrompt'>, seed = profile.seeds[0]): RunSpec {
  const label = `language recipe (${[prompts.prompt, ...(prompts.negativePrompts ?? []).map((p) => `not ${p}`), prompts.attributePrompt].filter(Boolean).join(', ')})`;
  // the recipe's own schedule (A = 11): the profile's attention epoch is the paper's alignment recipe's, not this one's
  const { attentionEpoch: _profiles, ...base } = profileConfig(profile, dataset, 'vanilla', seed);
  return { label, config: applyRecipe('language', { ...base, ...prompts }) };
}

/** Diagnoses a finished run on the profile's validation images (the first evalImages of the split). */
export function diagnoseFinished(run: FinishedRun, ds: ShortcutDataset, profile: Profile, candidates: Pick<DiagnoseOptions, 'prompts' | 'attributePrompts' | 'attribution'>): Promise<Diagnosis> {
  return diagnoseRun(run.dir, { ...candidates, dataset: ds, ...evalLimit(profile) });
}

/** The profile's validation images: its first evalImages (all when it sets none). */
const evalLimit = (profile: Profile): { limit?: number } => (profile.evalImages !== null ? { limit: profile.evalImages } : {});

/**
 * The attention measure of a finished run under every attribution (`ltl diagnose --attribution`): one row per
 * attribution and prompt, its share, the share's chance level and the lift (lib/diagnose attentionOfRun: maps and
 * regions made once for all attributions). The flip rates do not depend on the attribution, so they are left to the
 * diagnosis itself.
 */
export async function attributionRows(run: FinishedRun, ds: ShortcutDataset, profile: Profile, candidates: Pick<DiagnoseOptions, 'prompts' | 'attributePrompts'>): Promise<Row[]> {
  const pct = (x: number | null) => (x === null ? null : Math.round(1000 * x) / 10);
  const records = await attentionOfRun(run.dir, { ...candidates, dataset: ds, ...evalLimit(profile) });
  return records.map((r) => ({ attribution: r.attribution, prompt: r.prompt, 'share %': pct(r.share), 'chance share %': pct(r.chance), lift: r.lift === null ? null : Math.round(100 * r.lift) / 100 }));
}
