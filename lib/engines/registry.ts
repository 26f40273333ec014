import type { TrainEngine, OptimizerConfig, InputGradPenalty, EngineRunConfig } from './types';
import type { NamedArray } from './types';
import { UserError } from '../util/errors';
import type { CdepRegion } from '../losses/cdep';

/** What an engine factory gets: the resolved config, optimizer settings and the initial weights
 * (the same seeded PyTorch-style draw for every engine, lib/models/init.ts). */
export interface EngineFactoryArgs {
  config: EngineRunConfig;
  optimizer: OptimizerConfig;
  initialWeights: Record<string, NamedArray>;
  /** Methods 'rrr' and 'eg': the input-gradient penalty the trainer built from the config (masks come per batch). */
  penalty?: InputGradPenalty;
  /** Method 'cdep': what its decomposition calls relevant (masks come per batch). */
  cdep?: CdepRegion;
}

export interface EngineFactory {
  /** Why not, when this engine cannot run the config (undefined = it can). */
  unsupported(config: EngineRunConfig): string | undefined;
  create(args: EngineFactoryArgs): TrainEngine;
}

const factories = new Map<string, EngineFactory>();

/** Lets a fast engine (e.g. the fused LeNet-GAP kernel, lib/engines/fused) plug into the trainer as --engine NAME. */
export function registerEngine(name: string, f: EngineFactory): void {
  factories.set(name, f);
}

export function engineNames(): string[] {
  return [...factories.keys()];
}

export function getEngineFactory(name: string, config: EngineRunConfig): EngineFactory {
  const f = factories.get(name);
  if (!f) throw new UserError(`unknown engine '${name}': registered engines are ${engineNames().join(', ')}`);
  const why = f.unsupported(config);
  if (why) throw new UserError(`engine '${name}' cannot run this configuration: ${why}`);
  return f;
}
