import type { TrainConfig } from '../config';
import { buildTargets, type TargetMaps } from '../targets';
import { buildPromptConstraint, usesPrompts, type PromptConstraint } from '../prompt-constraint';
import { UserError } from '../../util/errors';
import type { RunData } from './data';

/** The maps a run trains and measures with. */
export interface RunMaps {
  /** align: the target distributions of the training and validation images (validation: undefined for a map file). */
  targets?: TargetMaps;
  valTargets?: TargetMaps;
  /** Any run with prompts: the prompt constraint (the penalty in prompt mode, the validation right-reasons masks, the
   * regions counterfactuals redraw). */
  prompts?: PromptConstraint;
}

/**
 * Stage 3, the maps (from a map source or file, lib/train/targets.ts, split-maps.ts): align's targets, and the prompt
 * constraint of any run with prompts, with what the attribute prompt's words span when the run varies images.
 */
export async function prepareMaps(config: TrainConfig, d: RunData, cacheDir: string | undefined, log: (msg: string) => void): Promise<RunMaps> {
  const out: RunMaps = {};
  if (config.method === 'align') {
    const spec = { maps: config.maps, postprocess: config.postprocess, threshold: config.mapThreshold, seed: config.seed, grid: d.grid, prompt: config.prompt, cacheDir, log };
    out.targets = await buildTargets(spec, d.ds, d.ds.train, d.nTrain);
    out.valTargets = await buildTargets(spec, d.ds, d.ds.val, d.nVal);
    if (out.targets!.empty) log(`warning: ${out.targets!.empty} of ${d.nTrain} target maps are empty (their attention term is 0)`);
  }
  if (usesPrompts(config)) {
    out.prompts = await buildPromptConstraint(config, d.ds, d.nTrain, d.nVal, d.size, { cacheDir, log, span: config.augment === 'prompt' || config.select === 'val-cf' });
  }
  if (config.select === 'val-rr' && !out.prompts?.measurable) throw new UserError(`--select val-rr needs validation maps of the prompts; --maps ${config.maps} has none (a map file holds training maps only)`);
  return out;
}
