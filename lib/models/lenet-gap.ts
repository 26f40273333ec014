import * as tf from '@tensorflow/tfjs';
import type { Model, ForwardOptions, ForwardResult } from './types';
import { makeParams } from './init';
import { MODEL_SHAPES } from './specs';
import { conv, maxPool2x2 } from './ops';

/**
 * The paper's LeNet with global average pooling (3,042 parameters), input 3x32x32 in [-1, 1]:
 * conv 5x5 3->6, ReLU, maxpool 2 -> conv 5x5 6->16 (attention layer: raw output 16x10x10), ReLU,
 * maxpool 2, global average pool -> linear 16->10. Weights in tfjs layouts (HWIO, [in, out]).
 */
export function createLeNetGap(weights: Parameters<typeof makeParams>[1]): Model {
  const p = makeParams('lenet-gap', weights);
  const v = (i: number) => p[i].variable;
  const head = (a: tf.Tensor4D, o: ForwardOptions = {}): tf.Tensor2D => {
    const h = tf.mean(maxPool2x2(tf.relu(a), o.secondOrder), [1, 2]) as tf.Tensor2D;
    return tf.add(tf.matMul(h, v(4) as unknown as tf.Tensor2D), v(5)) as tf.Tensor2D;
  };
  return {
    name: 'lenet-gap', ...MODEL_SHAPES['lenet-gap'], params: p,
    forward(x: tf.Tensor4D, o: ForwardOptions = {}): ForwardResult {
      const h = maxPool2x2(tf.relu(conv(x, v(0), v(1))), o.secondOrder);
      const features = conv(h, v(2), v(3));
      return { logits: head(features, o), features };
    },
    head,
    camWeights: () => v(4) as unknown as tf.Tensor2D,
    dispose: () => p.forEach((q) => q.variable.dispose()),
  };
}
