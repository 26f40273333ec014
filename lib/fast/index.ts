export * from './lenet-gap-engine';
export { FusedEngine, fusedUnsupported, type FusedEngineOptions } from './fused-engine';
