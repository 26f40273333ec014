/**
 * Diagnosis with language: which of some candidate prompts a trained net reads (`ltl diagnose`), measured by
 * counterfactual reliance and input-gradient attention, each against its chance level.
 */
export * from './types';
export { DIAGNOSIS_MASKS, MIN_FOUND_SHARE, MAX_AREA_SHARE, diagnosisRegions, regionCoverage, regionProblem, attributeProblem, type RegionCoverage } from './regions';
export { chanceOffsets, translateRegion } from './chance-region';
export { ATTRIBUTIONS, ATTRIBUTION_ABOUT, DEFAULT_ATTRIBUTION, IG_STEPS, attributions, checkAttribution, isAttribution, type AttributionName } from './attribution';
export { gradientEnergy, regionAttention, attributeAttention, lift, attributeEnergyMap, type GradientEnergy, type AttentionShare } from './attention';
export {
  diagnosisDraws, diagnosisColours, imageColour, regionCounterfactual, attributeCounterfactual, measureReliance, counterfactualOf,
  type DiagnosisDraws, type Counterfactual, type RelianceMeasure, type VariedImages,
} from './reliance';
export { MIN_MARGIN, RANKING, rankPrompts, verdictOf } from './verdict';
export { netFromModel, netFromWeights, modelOfWeights, loadCheckpointNet, loadRunNet, type DiagnosedNet, type LoadedNet } from './net';
export {
  diagnose, diagnoseRun, diagnoseCheckpoint, diagnoseImages, diagnosisJson, promptCandidates, measureAttention, attentionOfRun, DIAGNOSIS_DEFAULTS,
  type AttentionRecord, type DiagnoseOptions, type DiagnosisImages, type DiagnoseImagesSettings,
} from './diagnose';
