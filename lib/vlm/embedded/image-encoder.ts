import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../../util/rng';
import { addParam, heNormal, type ParamMap } from './params';

export interface ImageEncoderConfig {
  /** Channels of the 3x3 convolutions, all on the 14x14 grid (after a 2x2 space-to-depth of the input). */
  channels: number[];
  /** Joint image-text space width. */
  jointDim: number;
  /** Adds a projection of the globally pooled features to every patch, so each patch also knows the whole image. */
  globalContext: boolean;
  /**
   * Channels of a coarse branch: max-pool 2 of the second conv's output to 7x7, these 3x3 convs, then
   * upsampled (nearest) and added before the last conv's ReLU, so every patch sees the whole digit
   * (receptive field ~30 px). Empty: no branch.
   */
  coarse?: number[];
}

/**
 * A small CNN that turns a 28x28 RGB image into a 14x14 grid of patch embeddings in the joint space:
 * 2x2 space-to-depth (each cell's 2x2 pixels become 12 channels) -> 3x3 convs on the 14x14 grid -> 1x1
 * projection (+ an optional projection of the globally pooled features, added to every patch). Each grid
 * cell covers 2x2 pixels, finer than the 5x5 decoy patch, and three convs let it see 7x7 cells (14 px).
 * Working on the grid from the start keeps the convolutions 4x cheaper than a full-resolution first layer.
 */
export class ImageEncoder {
  readonly config: ImageEncoderConfig;
  private readonly convs: { w: tf.Variable; b: tf.Variable; stride: number }[] = [];
  private readonly proj: tf.Variable;
  private readonly projB: tf.Variable;
  private readonly ctx?: tf.Variable;
  private readonly coarse: { w: tf.Variable; b: tf.Variable }[] = [];

  constructor(config: ImageEncoderConfig, params: ParamMap, rng: Rng) {
    this.config = config;
    let cin = 12;
    config.channels.forEach((c, i) => {
      const w = addParam(params, `image/conv${i + 1}/kernel`, heNormal(rng, [3, 3, cin, c], 9 * cin));
      const b = addParam(params, `image/conv${i + 1}/bias`, tf.zeros([c]));
      this.convs.push({ w, b, stride: 1 });
      cin = c;
    });
    if (config.coarse?.length) {
      if (config.channels.length < 3) throw new Error('the coarse branch needs at least 3 convs');
      let c0 = config.channels[1];
      config.coarse.forEach((c, i) => {
        this.coarse.push({
          w: addParam(params, `image/coarse${i + 1}/kernel`, heNormal(rng, [3, 3, c0, c], 9 * c0)),
          b: addParam(params, `image/coarse${i + 1}/bias`, tf.zeros([c])),
        });
        c0 = c;
      });
      if (c0 !== config.channels[2]) throw new Error('the coarse branch must end with as many channels as conv3');
    }
    this.proj = addParam(params, 'image/proj/kernel', heNormal(rng, [cin, config.jointDim], cin));
    this.projB = addParam(params, 'image/proj/bias', tf.zeros([config.jointDim]));
    if (config.globalContext) this.ctx = addParam(params, 'image/context/kernel', tf.mul(heNormal(rng, [cin, config.jointDim], cin), 0.5));
  }

  /** uint8-range images [n, H, W, 3] (float) -> network input in [-1, 1]. */
  static normalise(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => tf.sub(tf.div(x, 127.5), 1) as tf.Tensor4D);
  }

  /** Patch embeddings [n, H/2, W/2, D] (not normalised) of normalised images [n, H, W, 3] (H, W even). */
  patches(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const [n0, H, W] = x.shape;
      // Space-to-depth: [n, H, W, 3] -> [n, H/2, W/2, 12], channel order (row in cell, column in cell, rgb).
      let h = tf.reshape(tf.transpose(tf.reshape(x, [n0, H / 2, 2, W / 2, 2, 3]), [0, 1, 3, 2, 4, 5]), [n0, H / 2, W / 2, 12]) as tf.Tensor4D;
      let up: tf.Tensor4D | undefined;
      this.convs.forEach((c, i) => {
        let z = tf.add(tf.conv2d(h, c.w as tf.Tensor4D, c.stride, 'same'), c.b) as tf.Tensor4D;
        if (i === 2 && up) z = tf.add(z, up);
        h = tf.relu(z);
        if (i === 1 && this.coarse.length) {
          const [, gh, gw] = h.shape;
          let d = tf.maxPool(h, 2, 2, 'valid') as tf.Tensor4D;
          for (const k of this.coarse) d = tf.relu(tf.add(tf.conv2d(d, k.w as tf.Tensor4D, 1, 'same'), k.b)) as tf.Tensor4D;
          up = tf.image.resizeNearestNeighbor(d, [gh, gw]);
        }
      });
      const [n, gh, gw, ch] = h.shape;
      const flat = tf.reshape(h, [n * gh * gw, ch]) as tf.Tensor2D;
      let p = tf.add(tf.matMul(flat, this.proj), this.projB);
      p = tf.reshape(p, [n, gh, gw, this.config.jointDim]);
      if (this.ctx) {
        const g = tf.matMul(tf.mean(h, [1, 2]) as tf.Tensor2D, this.ctx);
        p = tf.add(p, tf.reshape(g, [n, 1, 1, this.config.jointDim]));
      }
      return p as tf.Tensor4D;
    });
  }
}
