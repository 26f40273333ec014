import type { InputGradPenalty } from '../../engines/types';
import { rrrModePenalty } from '../../losses/rrr';
import { CDEP_COLOUR_PIXELS, pixelProbabilities, type CdepRegion } from '../../losses/cdep';
import { UserError } from '../../util/errors';
import type { TrainConfig } from '../config';
import { prepareRrrMasks } from '../data';
import type { PromptConstraint } from '../prompt-constraint';
import type { RunData } from './data';

/** What rrr, eg and cdep penalise: the penalty matrices, CDEP's region, and the per-image masks. */
export interface RunPenalty {
  penalty?: InputGradPenalty;
  cdep?: CdepRegion;
  /** Per-pixel weights [nTrain, S, S] (rrr, eg, cdep with a spatial term), gathered per batch. */
  rrrMasks?: Float32Array;
}

/**
 * Stage 4, the choice of penalty: rrr, eg and cdep read the same masks, the annotation's (decoy region, or colour) or
 * the prompts' (their language twin, --rrr-mode prompt). CDEP's colour mode is its own ColorMNIST prior (single
 * foreground pixels), not a matrix. Other methods penalise nothing.
 */
export function choosePenalty(config: TrainConfig, d: RunData, prompts: PromptConstraint | undefined): RunPenalty {
  const penalised = config.method === 'rrr' || config.method === 'eg' || config.method === 'cdep';
  if (!penalised) return {};
  const promptMode = config.rrrMode === 'prompt';
  if (promptMode && !prompts) throw new UserError(`--method ${config.method} --rrr-mode prompt needs --prompt, --negative-prompt or --attribute-prompt`);
  const penalty = promptMode ? prompts!.penalty : rrrModePenalty(config.rrrMode as 'spatial' | 'colour');
  const cdep: CdepRegion | undefined = config.method !== 'cdep' ? undefined : config.rrrMode === 'colour'
    ? { kind: 'pixels', count: CDEP_COLOUR_PIXELS, probabilities: pixelProbabilities(d.trainX, d.nTrain, d.size) }
    : { kind: 'mask', penalty };
  let rrrMasks = promptMode ? prompts!.train : undefined;
  if (penalty.spatial && !promptMode) {
    rrrMasks = prepareRrrMasks(d.ds.train, d.nTrain, d.size);
    if (!rrrMasks) throw new UserError(`--method ${config.method} with spatial masks needs a spatial shortcut (decoy patch); ${d.ds.name} has none: use --rrr-mode colour`);
  }
  return { penalty, cdep, rrrMasks };
}
