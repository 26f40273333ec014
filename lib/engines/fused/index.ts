export * from './kernel';
export { FusedEngine, fusedUnsupported, type FusedEngineOptions } from './engine';
