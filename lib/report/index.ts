/** Presentation only: displays, plots, image grids, tables, progress, the committed results table, environment checks.
 * What trains models, makes maps or measures them lives in lib/experiments and lib/evaluate. */
export * from './display';
export * from './progress';
export * from './paths';
export * from './plotly';
export * from './chromium';
export * from './image-grid';
export * from './table';
export * from './shortcut-heatmaps';
export { encodePng, writePng, decodePng } from '../util/png';
export * from './environment';
export * from './committed-results';
export * from './diagnosis-figure';
