export * from './types';
export * from './store';
export * from './registry';
export * from './source';
export * from './morphology';
export { OracleGenerator, type OracleOptions } from './generators/oracle';
export { UniformGenerator, type UniformOptions } from './generators/uniform';
export { RandomGenerator, type RandomOptions } from './generators/random';
export * from './postprocess';
