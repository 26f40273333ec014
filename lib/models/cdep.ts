import * as tf from '@tensorflow/tfjs';
import type { Model, ForwardOptions, ForwardResult } from './types';
import { makeParams } from './init';
import { MODEL_SHAPES } from './specs';
import { conv, maxPool2x2 } from './ops';

/**
 * CDEP's MNIST net (Rieger et al. 2020), input 3x28x28 in [-1, 1]: conv 5x5 3->20, ReLU, pool ->
 * conv 5x5 20->50 (attention layer: raw output 50x8x8), ReLU, pool -> FC 800->500, ReLU -> 500->10.
 * No GAP, so CAM does not apply; use Grad-CAM or input gradients. Flattening is HWC (tfjs layout),
 * a permutation of PyTorch's CHW that does not change what the net can learn.
 */
export function createCdepNet(weights: Parameters<typeof makeParams>[1]): Model {
  const p = makeParams('cdep', weights);
  const v = (i: number) => p[i].variable as unknown as tf.Tensor2D;
  const head = (a: tf.Tensor4D, o: ForwardOptions = {}): tf.Tensor2D => {
    const h = tf.reshape(maxPool2x2(tf.relu(a), o.secondOrder), [a.shape[0], 800]) as tf.Tensor2D;
    const f1 = tf.relu(tf.add(tf.matMul(h, v(4)), v(5))) as tf.Tensor2D;
    return tf.add(tf.matMul(f1, v(6)), v(7)) as tf.Tensor2D;
  };
  return {
    name: 'cdep', ...MODEL_SHAPES.cdep, params: p,
    forward(x: tf.Tensor4D, o: ForwardOptions = {}): ForwardResult {
      const h = maxPool2x2(tf.relu(conv(x, p[0].variable, p[1].variable)), o.secondOrder);
      const features = conv(h, p[2].variable, p[3].variable);
      return { logits: head(features, o), features };
    },
    head,
    dispose: () => p.forEach((q) => q.variable.dispose()),
  };
}
