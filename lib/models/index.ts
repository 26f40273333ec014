import type { Model, ModelName } from './types';
import { UserError } from '../util/errors';
import { createLeNetGap } from './lenet-gap';
import { createCdepNet } from './cdep';
import { initialWeights } from './init';
import { MODEL_SHAPES } from './specs';

export * from './types';
export { createLeNetGap } from './lenet-gap';
export { createCdepNet } from './cdep';
export { maxPool2x2 } from './ops';
export { initialWeights, torchUniform } from './init';
export { PARAM_SPECS, MODEL_SHAPES, paramCount, type ParamSpec } from './specs';

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
  return MODEL_SHAPES[check(name)].inputSize;
}

export function modelGrid(name: string): { height: number; width: number } {
  return { ...MODEL_SHAPES[check(name)].grid };
}
