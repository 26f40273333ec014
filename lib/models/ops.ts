import * as tf from '@tensorflow/tfjs';

/**
 * Where a 2x2 / stride 2 max pool takes each output from: 1 at the first maximum of each window (row-major order,
 * as PyTorch's max_pool2d and tfjs's own MaxPoolGrad route it), 0 elsewhere; trailing odd rows/columns are 0.
 * Ties are common, not measure zero: a constant background (MNIST's black) gives equal positive values across a
 * window after conv + ReLU, and routing the gradient to every tied position would multiply it there.
 */
function firstMaxMask(x: tf.Tensor4D, y: tf.Tensor4D): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const h2 = y.shape[1], w2 = y.shape[2];
  const xc = h === 2 * h2 && w === 2 * w2 ? x : tf.slice(x, [0, 0, 0, 0], [b, 2 * h2, 2 * w2, c]);
  const up = tf.image.resizeNearestNeighbor(y, [2 * h2, 2 * w2]);
  // [B, H, W, C] -> [B*H/2, 2 (row in window), W/2, 2*C (column in window, channel)]
  const m = tf.reshape(tf.cast(tf.equal(xc, up), 'float32'), [b * h2, 2, w2, 2 * c]);
  const part = (r: number, col: number) => tf.slice(m, [0, r, 0, col * c], [b * h2, 1, w2, c]);
  const [m00, m01, m10, m11] = [part(0, 0), part(0, 1), part(1, 0), part(1, 1)];
  const n00 = tf.sub(1, m00), n01 = tf.sub(1, m01), n10 = tf.sub(1, m10);
  const f01 = tf.mul(m01, n00), f10 = tf.mul(m10, tf.mul(n00, n01)), f11 = tf.mul(m11, tf.mul(tf.mul(n00, n01), n10));
  const first = tf.reshape(tf.concat([tf.concat([m00, f01], 3), tf.concat([f10, f11], 3)], 1), [b, 2 * h2, 2 * w2, c]);
  return (first.shape[1] === h && first.shape[2] === w ? first : tf.pad(first, [[0, 0], [0, h - 2 * h2], [0, w - 2 * w2], [0, 0]])) as tf.Tensor4D;
}

/**
 * firstMaxMask as a constant to every tape: rebuilt from its values, so no tape holds its history (tf.equal has no
 * gradient, and a tf.customGrad with a zero gradient changes the values it returns under an outer tape in tfjs
 * 4.22: the pooled gradient came out 4x larger on constant backgrounds inside tf.variableGrads).
 */
function constantFirstMaxMask(x: tf.Tensor4D): tf.Tensor4D {
  const values = tf.tidy(() => firstMaxMask(x, tf.maxPool(x, 2, 2, 'valid')).dataSync());
  return tf.tensor4d(values, x.shape);
}

/**
 * 2x2 / stride 2 max pooling built from plain differentiable ops (mask, multiply, reshape, sum), so losses made of
 * gradients (Grad-CAM, input-gradient saliency, RRR) can be trained (double backprop): tfjs has no gradient for its
 * MaxPoolGrad kernel, and a tf.customGrad pooling gives wrong second derivatives (its gradient function is not
 * differentiated correctly by an outer tape; found against finite differences, test/engines-fused-rrr.test.ts).
 * Each output takes its window's first maximum (as PyTorch), so the gradient is routed there only.
 */
function maxPool2x2Twice(x: tf.Tensor4D): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const h2 = Math.floor(h / 2), w2 = Math.floor(w / 2);
  const xc = h === 2 * h2 && w === 2 * w2 ? x : tf.slice(x, [0, 0, 0, 0], [b, 2 * h2, 2 * w2, c]);
  return sumPool2x2(tf.mul(xc, constantFirstMaxMask(xc)));
}

/** Sum of each 2x2 window of an even-sized [B, H, W, C] (plain reshapes and sums: differentiable to any order). */
function sumPool2x2(x: tf.Tensor4D): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  const h2 = h / 2, w2 = w / 2;
  // [B, H, W, C] -> [B*H/2, 2, W/2, 2*C]: sum the window's rows, then its columns
  const rows = tf.sum(tf.reshape(x, [b * h2, 2, w2, 2 * c]), 1);
  return tf.reshape(tf.sum(tf.reshape(rows, [b * h2, w2, 2, c]), 2), [b, h2, w2, c]) as tf.Tensor4D;
}

/**
 * Each of `parts` pooled at the positions where their sum has its window's first maximum: the 2x2 / stride 2 max
 * pool of the sum, split into the parts' shares (contextual decomposition's max-pool rule, lib/losses/cdep.ts).
 * The positions are constants (no gradient flows into where the maximum is, as in max pooling itself).
 */
export function maxPool2x2Parts(parts: readonly tf.Tensor4D[]): tf.Tensor4D[] {
  const [b, h, w, c] = parts[0].shape;
  const h2 = Math.floor(h / 2), w2 = Math.floor(w / 2);
  const crop = (t: tf.Tensor4D) => (h === 2 * h2 && w === 2 * w2 ? t : tf.slice(t, [0, 0, 0, 0], [b, 2 * h2, 2 * w2, c]));
  const at = constantFirstMaxMask(crop(parts.reduce((a, p) => tf.add(a, p) as tf.Tensor4D)));
  return parts.map((p) => sumPool2x2(tf.mul(crop(p), at)));
}

export function maxPool2x2(x: tf.Tensor4D, secondOrder = false): tf.Tensor4D {
  return secondOrder ? maxPool2x2Twice(x) : tf.maxPool(x, 2, 2, 'valid');
}

/** Conv 'valid' stride 1 plus bias. */
export function conv(x: tf.Tensor4D, w: tf.Variable, b: tf.Variable): tf.Tensor4D {
  return tf.add(tf.conv2d(x, w as unknown as tf.Tensor4D, 1, 'valid'), b) as tf.Tensor4D;
}

/**
 * d<logits(at), weights>/d at: the gradient of a weighted sum of a network's logits with respect to its input
 * `at` (an image batch, or an inner layer's output for Grad-CAM). With one-hot weights of the true class it is
 * the true-class score's gradient (Grad-CAM, input-gradient saliency); RRR and Expected Gradients weight every
 * class by a score's gradient with respect to the logits (lib/losses/rrr.ts, expected-gradients.ts). Taken inside
 * any outer tape, so the result can itself be differentiated (double backprop).
 */
export function logitGradient<T extends tf.Tensor>(logitsOf: (at: T) => tf.Tensor2D, at: T, weights: tf.Tensor2D): T {
  return tf.grad((a: tf.Tensor) => tf.sum(tf.mul(logitsOf(a as T), weights)) as tf.Scalar)(at) as T;
}
