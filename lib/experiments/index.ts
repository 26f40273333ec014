/**
 * The orchestration the notebooks call: profiles, cached training runs, the method and ablation studies, the prompt
 * study, stored training maps, multi-seed runs (lib/experiments/sweep: grid sweeps over `ltl train`, the `sweep`
 * namespace). Figures and tables come from lib/report.
 */
import '../vlm/register'; // the VLM map sources (embedded, clipseg) the recipes train with
export * from './profiles';
export * from './cache';
export * from './published-results';
export * from './study-comparison';
export * from './harder-benchmark';
export * from './prompt-study';
export * from './stored-maps';
export * from './runs';
export * from './multi-seed';
