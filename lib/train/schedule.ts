import type { StepPhase } from '../engines/types';

export interface ScheduleConfig {
  /** 'vanilla' trains CE only; every other method (align, rrr, eg, cdep) follows the two phases. */
  method: string;
  epochs: number;
  /** A: the epoch the combined loss starts (0 = from the start). */
  attentionEpoch: number;
  phase1: 'ce' | 'attention';
  lambda: number;
  lr: number;
  lrStep: number;
  lrGamma: number;
}

export interface EpochPlan {
  epoch: number;
  phase: StepPhase;
  lambda: number;
  lr: number;
  /** True when the optimizer (and the LR schedule) is re-created at the start of this epoch. */
  resetOptimizer: boolean;
}

/**
 * The paper's two-phase schedule (docs/method.md section 5), the same for every method so baselines differ
 * only in the loss: epochs 0..A-1 are phase 1 (CE only, or the attention loss only); at epoch A
 * (if A > 0) the optimizer and StepLR are re-created and the loss becomes CE + lambda(e) * att with
 * lambda(e) = lambda0 * (1 + (e - A) / 10). StepLR: lr = lr0 * gamma^floor((e - start) / step), start
 * being 0 or A (the scheduler steps once per epoch). Vanilla has lambda 0 throughout.
 */
export function planEpoch(c: ScheduleConfig, e: number): EpochPlan {
  const A = c.attentionEpoch;
  const phase2 = e >= A;
  const start = phase2 && A > 0 ? A : 0;
  const lr = c.lr * Math.pow(c.lrGamma, Math.floor((e - start) / c.lrStep));
  const resetOptimizer = A > 0 && e === A;
  if (c.method === 'vanilla') return { epoch: e, phase: 'ce', lambda: 0, lr, resetOptimizer };
  if (!phase2) return { epoch: e, phase: c.phase1 === 'attention' ? 'attention' : 'ce', lambda: 0, lr, resetOptimizer };
  return { epoch: e, phase: 'combined', lambda: c.lambda * (1 + (e - A) / 10), lr, resetOptimizer };
}
