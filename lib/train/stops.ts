import { UserError } from '../util/errors';

/** Weights beyond this magnitude are a diverging run (finite, but not a model worth keeping). */
export const MAX_ABS_WEIGHT = 1e6;

/** Training stopped on a NaN or infinite loss; the message says where and which checkpoint is kept. */
export class TrainingDiverged extends UserError {
  constructor(message: string) { super(message); this.name = 'TrainingDiverged'; }
}

/** Thrown by runTraining when RunOptions.haltAfterEpoch stops it (as if killed): for resume tests. */
export class TrainingHalted extends Error {
  constructor(readonly epoch: number) { super(`halted after epoch ${epoch}`); this.name = 'TrainingHalted'; }
}

/** The largest |w| over all weight arrays (NaN or Infinity if any value is not finite). */
export function largestWeight(weights: Record<string, { data: Float32Array }>): number {
  let worst = 0;
  for (const { data } of Object.values(weights)) {
    for (let i = 0; i < data.length; i++) {
      const a = Math.abs(data[i]);
      if (!(a <= worst)) {
        if (!Number.isFinite(a)) return a;
        worst = a;
      }
    }
  }
  return worst;
}
