/** Presentation helpers for the notebooks and reports: displays, plots, image grids, tables, profiles. */
export * from './display';
export * from './progress';
export * from './profiles';
export * from './paths';
export * from './plotly';
export * from './chromium';
export * from './image-grid';
export * from './table';
export * from './dataset-stats';
export * from './paper';
export { encodePng, writePng, decodePng } from './png';
export * from './environment';
export * from './cache';
export * from './cams';
export * from './prompts';
export * from './maps';
export * from './experiments';
