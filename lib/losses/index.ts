export * from './penalty';
import type { AttentionLoss, AttentionLossName } from './types';
import { UserError } from '../util/errors';
import { PaperKlLoss } from './kl';
import { DistKlLoss } from './kl-dist';

export * from './types';
export { PaperKlLoss, klDivBatchmean } from './kl';
export { DistKlLoss } from './kl-dist';
export { rrrPenalty, rrrModePenalty, rrrInputGradient, penaltyPerImage, type RrrMode } from './rrr';
export { cdepPenalty, cdepScore, decomposeLogits, pixelProbabilities, CDEP_COLOUR_PIXELS, type CdepRegion, type Decomposition } from './cdep';
export { egPenalty, expectedGradients, drawReferences, type EgDraws } from './expected-gradients';

export const LOSS_NAMES: readonly AttentionLossName[] = ['kl', 'kl-dist'];

/** 'kl' = the paper's (temperature 1 unless given); 'kl-dist' = ours (see kl-dist.ts). */
export function createLoss(name: string, opts: { temperature?: number } = {}): AttentionLoss {
  if (name === 'kl') return new PaperKlLoss(opts.temperature ?? 1);
  if (name === 'kl-dist') return new DistKlLoss();
  throw new UserError(`unknown loss '${name}': use ${LOSS_NAMES.join(' or ')}`);
}
