import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../../util/rng';

/** Named trainable tensors of one model; the names are the checkpoint's keys. */
export type ParamMap = Map<string, tf.Variable>;

/** He-normal initial values from our own seeded generator (so a seed fixes the init on every backend). */
export function heNormal(rng: Rng, shape: number[], fanIn: number): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(n);
  const s = Math.sqrt(2 / fanIn);
  for (let i = 0; i < n; i++) v[i] = rng.normal() * s;
  return tf.tensor(v, shape);
}

export function addParam(params: ParamMap, name: string, init: tf.Tensor): tf.Variable {
  if (params.has(name)) throw new Error(`duplicate parameter ${name}`);
  const v = tf.variable(init, true); // tfjs names must be globally unique; ours live in the ParamMap
  init.dispose();
  params.set(name, v);
  return v;
}
