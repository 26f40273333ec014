// the engine interface, registry and tfjs engine (lib/engines), as the train namespace always exported them
export * from '../engines/types';
export * from './config';
export * from './schedule';
export * from './checkpoint';
export * from '../engines/registry';
export * from './targets';
export * from './data';
export { TfjsEngine, type TfjsEngineOptions } from '../engines/tfjs/engine';
export { runTraining, selectEpoch, TrainingHalted, TrainingDiverged, selectionSummary, type EpochRecord, type TrainResult, type RunOptions } from './trainer';
