import type { Model, ModelName } from './types';
import { UserError } from '../util/errors';
import { createLeNetGap } from './lenet-gap';
import { createCdepNet } from './cdep';
import { initialWeights } from './init';

export * from './types';
export { createLeNetGap } from './lenet-gap';
export { createCdepNet } from './cdep';
export { maxPool2x2 } from './ops';
export { PARAM_SPECS, initialWeights, torchUniform, type ParamSpec } from './init';

export const MODEL_NAMES: readonly ModelName[] = ['lenet-gap', 'cdep'];

function check(name: string): ModelName {
  if (!(MODEL_NAMES as readonly string[]).includes(name)) throw new UserError(`unknown model '${name}': use ${MODEL_NAMES.join(' or ')}`);
  return name as ModelName;
}

/** Builds a model; weights default to the seeded PyTorch-style initialisation for `seed`. */
export function createModel(name: string, seed: number, weights = initialWeights(check(name), seed)): Model {
  return check(name) === 'lenet-gap' ? createLeNetGap(weights) : createCdepNet(weights);
}

export function modelInputSize(name: string): number {
  return check(name) === 'lenet-gap' ? 32 : 28;
}

export function modelGrid(name: string): { height: number; width: number } {
  return check(name) === 'lenet-gap' ? { height: 10, width: 10 } : { height: 8, width: 8 };
}
