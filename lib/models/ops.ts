import * as tf from '@tensorflow/tfjs';

/**
 * 2x2 / stride 2 max pooling whose backward pass is built from differentiable ops, so losses made
 * of gradients (Grad-CAM, input-gradient saliency, RRR) can be trained (double backprop). tfjs has
 * no gradient for its MaxPoolGrad kernel. The routing mask is fixed in the forward pass (it is
 * piecewise constant, as in PyTorch); ties between equal maxima (measure zero after a ReLU with a
 * positive value) share the gradient.
 */
const maxPool2x2Twice = tf.customGrad(((x: tf.Tensor4D, save: tf.GradSaveFunc) => {
  const y = tf.maxPool(x, 2, 2, 'valid');
  const [h, w] = [x.shape[1], x.shape[2]];
  const up = tf.image.resizeNearestNeighbor(y, [y.shape[1] * 2, y.shape[2] * 2]);
  const upc = up.shape[1] === h && up.shape[2] === w ? up : tf.pad(up, [[0, 0], [0, h - up.shape[1]], [0, w - up.shape[2]], [0, 0]], NaN);
  const mask = tf.cast(tf.equal(x, upc), 'float32');
  save([mask]);
  return {
    value: y,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const m = saved[0] as tf.Tensor4D;
      let g = tf.image.resizeNearestNeighbor(dy as tf.Tensor4D, [dy.shape[1]! * 2, dy.shape[2]! * 2]);
      if (g.shape[1] !== m.shape[1] || g.shape[2] !== m.shape[2]) g = tf.pad(g, [[0, 0], [0, m.shape[1] - g.shape[1]], [0, m.shape[2] - g.shape[2]], [0, 0]]);
      return tf.mul(g, m);
    },
  };
}) as any) as (x: tf.Tensor4D) => tf.Tensor4D;

export function maxPool2x2(x: tf.Tensor4D, secondOrder = false): tf.Tensor4D {
  return secondOrder ? maxPool2x2Twice(x) : tf.maxPool(x, 2, 2, 'valid');
}

/** Conv 'valid' stride 1 plus bias. */
export function conv(x: tf.Tensor4D, w: tf.Variable, b: tf.Variable): tf.Tensor4D {
  return tf.add(tf.conv2d(x, w as unknown as tf.Tensor4D, 1, 'valid'), b) as tf.Tensor4D;
}
