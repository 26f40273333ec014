import * as tf from '@tensorflow/tfjs';
import { createRng, type Rng } from '../util/rng';
import type { ModelName } from './types';

/** Parameter names, shapes (tfjs layouts: conv HWIO, dense [in, out]) and fan-in, in a fixed order. */
export interface ParamSpec { name: string; shape: number[]; fanIn: number }

export const PARAM_SPECS: Record<ModelName, ParamSpec[]> = {
  'lenet-gap': [
    { name: 'conv1.w', shape: [5, 5, 3, 6], fanIn: 75 }, { name: 'conv1.b', shape: [6], fanIn: 75 },
    { name: 'conv2.w', shape: [5, 5, 6, 16], fanIn: 150 }, { name: 'conv2.b', shape: [16], fanIn: 150 },
    { name: 'fc.w', shape: [16, 10], fanIn: 16 }, { name: 'fc.b', shape: [10], fanIn: 16 },
  ],
  cdep: [
    { name: 'conv1.w', shape: [5, 5, 3, 20], fanIn: 75 }, { name: 'conv1.b', shape: [20], fanIn: 75 },
    { name: 'conv2.w', shape: [5, 5, 20, 50], fanIn: 500 }, { name: 'conv2.b', shape: [50], fanIn: 500 },
    { name: 'fc1.w', shape: [800, 500], fanIn: 800 }, { name: 'fc1.b', shape: [500], fanIn: 800 },
    { name: 'fc2.w', shape: [500, 10], fanIn: 500 }, { name: 'fc2.b', shape: [10], fanIn: 500 },
  ],
};

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
