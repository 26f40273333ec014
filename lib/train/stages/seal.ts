import type { BackendInfo } from '../../backend';
import type { TrainConfig } from '../config';
import type { RunCounterfactuals } from '../counterfactuals';
import type { RunInputs, TrainResult } from '../result';
import { selectionSummary } from '../selection';
import type { RunData } from './data';
import type { RunMaps } from './maps';
import type { RunProgress } from './record';
import type { TrainStep } from './step';

/** Stage 8, the result: what was trained on, with what, the epochs, and those validation selects. */
export function runResult(config: TrainConfig, backend: BackendInfo, d: RunData, maps: RunMaps, cf: RunCounterfactuals, step: TrainStep,
  progress: RunProgress, resumedAfterEpoch: number | null, inputs: RunInputs): TrainResult {
  return {
    config, backend: backend.name, threads: backend.threads, engine: step.engine.name,
    parameters: step.parameters,
    trainImages: d.nTrain, valImages: d.nVal, testImages: d.nTest,
    targets: maps.targets ? { source: maps.targets.source, empty: maps.targets.empty } : null,
    prompts: maps.prompts ? maps.prompts.info : null,
    counterfactual: cf.info,
    ...selectionSummary(progress.history, config.select),
    epochs: progress.history, trainSeconds: progress.trainSeconds, imagesPerSecond: progress.imagesTrained / progress.trainSeconds,
    resumedAfterEpoch,
    finishedAt: new Date().toISOString(),
    inputs,
  };
}
