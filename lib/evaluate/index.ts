/**
 * Measurements: how good maps are against the annotation (and prompts ranked by it), what a trained model attends to
 * (its attention maps) and where its input gradients are, and the shortcut statistics of a dataset. Nothing here trains
 * or draws.
 */
export * from './map-quality';
export * from './prompt-ranking';
export * from './cams';
export * from './saliency';
export * from './shortcut-stats';
export * from './vlm-gates';
export * from './vlm-synonyms';
export * from './vlm-synonym-report';
