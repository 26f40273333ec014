/** learning-to-look: the public API, one namespace per pipeline stage. */
export * from './data';
export * from './backend';
export { UserError } from './util/errors';
export { createRng, permutation, type Rng } from './util/rng';
export { writeFileAtomic, writeJsonAtomic } from './util/atomic';
export { encodePng, writePng, decodePng } from './report/png';
export * as report from './report';
export * as maps from './maps';
export * as train from './train';
export * as models from './models';
export * as attention from './attention';
export * as losses from './losses';
export * as postprocess from './maps/postprocess';
export { runTraining, runSeeds, type TrainConfig, type TrainResult } from './train';
export * as sweep from './sweep';
export { loadSweep, type Sweep, type SweepRun, type SweepGroup } from './sweep/report';
