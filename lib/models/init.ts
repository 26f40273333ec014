import * as tf from '@tensorflow/tfjs';
import { createRng, type Rng } from '../util/rng';
import type { ModelName } from './types';
import { PARAM_SPECS, type ParamSpec } from './specs';

export { PARAM_SPECS, type ParamSpec };

/**
 * PyTorch's default initialisation of Conv2d and Linear (kaiming_uniform with a = sqrt(5)), which
 * reduces to U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases alike. We draw from our
 * seeded Rng so a seed fixes the initial weights on every backend and engine.
 */
export function torchUniform(shape: number[], fanIn: number, rng: Rng): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const bound = 1 / Math.sqrt(fanIn);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (rng.next() * 2 - 1) * bound;
  return out;
}

/** Initial weights of a model for a training seed, without tfjs (so any engine starts identically). */
export function initialWeights(model: ModelName, seed: number): Record<string, { shape: number[]; data: Float32Array }> {
  const rng = createRng(`${seed}:init:${model}`);
  const out: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const s of PARAM_SPECS[model]) out[s.name] = { shape: s.shape, data: torchUniform(s.shape, s.fanIn, rng) };
  return out;
}

let uniq = 0;
/** The model's parameters as tf.Variables holding the given initial weights. */
export function makeParams(model: ModelName, weights: Record<string, { shape: number[]; data: Float32Array }>): Array<{ name: string; variable: tf.Variable }> {
  return PARAM_SPECS[model].map((s) => ({
    name: s.name,
    variable: tf.tidy(() => tf.variable(tf.tensor(weights[s.name].data, s.shape), true, `${model}.${s.name}_${uniq++}`)),
  }));
}
