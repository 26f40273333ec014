import * as tf from '@tensorflow/tfjs';
import type { AttentionContext, AttentionMethod } from './types';
import { oneHotLabels } from './base';
import { areaWeights } from '../maps/postprocess';
import { logitGradient } from '../models/ops';

/**
 * Input-gradient saliency (Simonyan et al. 2014): |d(true-class logit)/dx| summed over colour
 * channels, area-averaged onto the model's attention grid (an exact box filter written as one matrix
 * product, so it stays differentiable).
 */
export class InputGradAttention implements AttentionMethod {
  readonly name = 'inputgrad' as const;
  readonly needsSecondOrder = true;
  private pool?: { key: string; m: tf.Tensor2D };

  private poolMatrix(h: number, w: number, gh: number, gw: number): tf.Tensor2D {
    const key = `${h}x${w}->${gh}x${gw}`;
    if (this.pool?.key === key) return this.pool.m;
    const wy = areaWeights(h, gh), wx = areaWeights(w, gw);
    const m = new Float32Array(h * w * gh * gw);
    for (let oy = 0; oy < gh; oy++) for (let ox = 0; ox < gw; ox++) {
      for (const [iy, vy] of wy[oy]) for (const [ix, vx] of wx[ox]) m[(iy * w + ix) * gh * gw + oy * gw + ox] = vy * vx;
    }
    this.pool?.m.dispose();
    this.pool = { key, m: tf.keep(tf.tensor2d(m, [h * w, gh * gw])) };
    return this.pool.m;
  }

  dispose(): void {
    this.pool?.m.dispose();
    this.pool = undefined;
  }

  map(ctx: AttentionContext): tf.Tensor3D {
    const { model, x } = ctx;
    const onehot = oneHotLabels(ctx.labels, ctx.forward.logits.shape[1]);
    const g = logitGradient((xx: tf.Tensor4D) => model.forward(xx, { secondOrder: ctx.training }).logits, x, onehot);
    const [b, h, w] = g.shape;
    const sal = tf.reshape(tf.sum(tf.abs(g), 3), [b, h * w]) as tf.Tensor2D;
    const { height: gh, width: gw } = model.grid;
    return tf.reshape(tf.matMul(sal, this.poolMatrix(h, w, gh, gw)), [b, gh, gw]) as tf.Tensor3D;
  }
}
