import type { StepPhase } from '../engines/types';
import type { TrainConfig } from './config';
import type { EpochRecord, TrainResult } from './result';

/**
 * The epoch the validation metric picks (ties: the earliest). Reads validation numbers only.
 * When the run has a combined phase (align, RRR after epoch A), only those epochs compete: an
 * epoch from the CE-only warm-up is a vanilla model and must not be reported as the method's.
 */
export function selectEpoch(
  epochs: ReadonlyArray<Pick<EpochRecord, 'valAcc' | 'valScore' | 'valExcludedShare' | 'valCfAcc'> & { phase?: StepPhase }>,
  by: TrainConfig['select'],
): number {
  const value = (e: number) => (by === 'val-acc' ? epochs[e].valAcc : by === 'val-rr' ? rightReasonsScore(epochs[e])
    : by === 'val-cf' ? epochs[e].valCfAcc ?? -1 : epochs[e].valScore);
  const combined = epochs.some((e) => e.phase === 'combined');
  let best = -1;
  for (let e = 0; e < epochs.length; e++) {
    if (combined && epochs[e].phase !== 'combined') continue;
    if (best < 0 || value(e) > value(best)) best = e;
  }
  return Math.max(best, 0);
}

/** 'val-rr': val acc x (1 - excluded share) (the share is recorded in [0, 1]; clamped as a guard); a record
 * without a share scores its val acc. */
export function rightReasonsScore(e: Pick<EpochRecord, 'valAcc' | 'valExcludedShare'>): number {
  return e.valAcc * (1 - Math.min(1, Math.max(0, e.valExcludedShare ?? 0)));
}

/** The result fields of the epoch validation selects (and of the last epoch), from the epoch records. */
export function selectionSummary(history: readonly EpochRecord[], select: TrainConfig['select']): Pick<TrainResult,
  'selectBy' | 'selectedEpoch' | 'valAccSelected' | 'valScoreSelected' | 'valExcludedShareSelected' | 'valCfAccSelected' | 'testAccSelected' | 'valAccFinal' | 'testAccFinal'> {
  const sel = selectEpoch(history, select);
  const last = history[history.length - 1];
  return {
    selectBy: select, selectedEpoch: sel,
    valAccSelected: history[sel].valAcc, valScoreSelected: history[sel].valScore, valExcludedShareSelected: history[sel].valExcludedShare ?? null,
    valCfAccSelected: history[sel].valCfAcc ?? null,
    testAccSelected: history[sel].testAcc,
    valAccFinal: last.valAcc, testAccFinal: last.testAcc,
  };
}
