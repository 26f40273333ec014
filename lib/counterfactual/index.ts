export * from './types';
export { redrawRegion, hasFreePixels } from './region';
export { recolourImage, strokeProfile } from './recolour';
export { namedColours, randomColours, RANDOM_COLOUR_MIN_LIGHTNESS, type NamedColourGroups } from './colours';
export { applyCounterfactual, batchDonors, counterfactualSplit, VAL_CF_SEED } from './apply';
export { CounterfactualBatcher } from './kernel';
