import type { ModelName } from './types';

/*
 * What each model is, as plain data (no tfjs): parameter layout, input size and attention grid. The
 * tfjs models (lenet-gap.ts, cdep.ts), the trainer and the fused wasm engine all read it from here.
 */

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

/** Input side (images are [B, inputSize, inputSize, 3]), attention grid and its channels. */
export const MODEL_SHAPES: Record<ModelName, { inputSize: number; grid: { height: number; width: number }; featureChannels: number }> = {
  'lenet-gap': { inputSize: 32, grid: { height: 10, width: 10 }, featureChannels: 16 },
  cdep: { inputSize: 28, grid: { height: 8, width: 8 }, featureChannels: 50 },
};

/** Number of trainable parameters of a model. */
export function paramCount(model: ModelName): number {
  return PARAM_SPECS[model].reduce((a, p) => a + p.shape.reduce((x, y) => x * y, 1), 0);
}
