/**
 * The compute engines behind the trainer (lib/train/trainer.ts): one training step on a prepared batch, batched
 * evaluation, state for checkpoints. The interface and the registry (types.ts, registry.ts) know no engine; each engine
 * registers itself under --engine NAME: tfjs (any model x attention x loss), fused (the LeNet-GAP wasm kernel) and auto
 * (fused when it can run the config, else tfjs). Importing this module registers all three.
 */
export * from './types';
export * from './registry';
export { TfjsEngine, type TfjsEngineOptions } from './tfjs/engine';
export * from './fused';
import './tfjs/register';
import './fused/register';
