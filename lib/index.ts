/** learning-to-look: the public API, one namespace per pipeline stage. */
import './vlm/register'; // the VLM map sources (embedded, clipseg), loaded when first used
export * from './data';
export * from './backend';
export { UserError } from './util/errors';
export { createRng, permutation, type Rng } from './util/rng';
export { writeFileAtomic, writeJsonAtomic } from './util/atomic';
export { encodePng, writePng, decodePng } from './util/png';
export * as report from './report';
export * as maps from './maps';
export * as train from './train';
export * as models from './models';
export * as attention from './attention';
export * as losses from './losses';
// The tfjs the library computes with, so a notebook can make and read tensors without resolving tfjs itself.
export * as tf from '@tensorflow/tfjs';
export * as engines from './engines';
export * as evaluate from './evaluate';
export * as diagnose from './diagnose';
export * as experiments from './experiments';
export * as postprocess from './maps/postprocess';
export { runTraining, type TrainConfig, type TrainResult } from './train';
export { diagnoseRun, diagnoseCheckpoint, type Diagnosis, type PromptDiagnosis } from './diagnose';
export { runSeeds, type SeedSummary } from './experiments/multi-seed';
export * as sweep from './experiments/sweep';
export { loadSweep, type Sweep, type SweepRun, type SweepGroup } from './experiments/sweep/report';
