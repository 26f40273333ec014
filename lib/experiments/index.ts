/**
 * The orchestration the notebooks call: profiles; the recipes of their runs (run-specs.ts) and the runs' records
 * (run-types.ts); training them once each (runs.ts); what is measured on them (measurements.ts); their tables and figures
 * (tables.ts, figures.ts; drawn with lib/report); the prompt study, stored training maps, multi-seed runs
 * (lib/experiments/sweep: grid sweeps over `ltl train`, the `sweep` namespace).
 */
import '../vlm/register'; // the VLM map sources (embedded, clipseg) the recipes train with
export * from './profiles';
export * from './cache';
export * from './published-results';
export * from './study-comparison';
export * from './harder-benchmark';
export * from './language-goals';
export * from './counterfactual-story';
export * from './prompt-study';
export * from './stored-maps';
export * from './run-types';
export * from './run-specs';
export * from './runs';
export * from './measurements';
export * from './tables';
export * from './figures';
export * from './multi-seed';
export * from './diagnosis-story';
