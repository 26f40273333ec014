import * as tf from '@tensorflow/tfjs';
import { createRng } from '../../util/rng';
import { ImageEncoder, type ImageEncoderConfig } from './image-encoder';
import { addParam, type ParamMap } from './params';
import { TextEncoder, type TextEncoderConfig } from './text-encoder';

export interface VlmConfig {
  text: TextEncoderConfig;
  image: ImageEncoderConfig;
  /** Longest prompt, in tokens; longer ones are truncated. */
  maxLen: number;
  /** Initial logit scale of the contrastive losses (CLIP starts at 1/0.07; a higher start speeds early learning). */
  initLogitScale?: number;
}

export const DEFAULT_VLM_CONFIG = (vocabSize: number): VlmConfig => ({
  text: { vocabSize, embedDim: 64, hiddenDim: 128, jointDim: 64 },
  image: { channels: [48, 64, 64], jointDim: 64, globalContext: true, coarse: [64, 64] },
  maxLen: 24,
  initLogitScale: 10,
});

/** Everything one training step needs, as tensors (built by train.ts from generated scenes). */
export interface VlmBatch {
  /** Raw images [B, 28, 28, 3], float in 0..255. */
  images: tf.Tensor4D;
  /** Bag-of-words of the B captions [B, V]. */
  captions: tf.Tensor2D;
  /** Soft targets [B, B] of the contrastive loss (rows sum to 1; equal captions share the mass). */
  captionTargets: tf.Tensor2D;
  /** Bag-of-words of the K category phrases of each image [B * K, V], image-major. */
  phrases: tf.Tensor2D;
  /** Per grid cell, the fraction of its pixels in each of the K categories [B, G*G, K]; category 0 is background. */
  cellTargets: tf.Tensor3D;
  /** Bag-of-words of one caption per digit class [C, V] ("a handwritten zero", ...; one grammar form per step). */
  classTexts: tf.Tensor2D;
  /** One-hot digit labels of the scenes [B, C]. */
  classTargets: tf.Tensor2D;
}

export interface LossWeights { global: number; dense: number; pair: number; classify: number; patchClassify: number }

const MAX_LOG_SCALE = Math.log(100);

/**
 * The embedded CLIP-style model: image patches and prompts in one joint space. The image embedding is
 * the mean of the patch embeddings, so the same space compares whole images with captions (zero-shot
 * classification) and single patches with prompts (dense maps).
 */
export class VlmModel {
  readonly config: VlmConfig;
  readonly params: ParamMap = new Map();
  readonly text: TextEncoder;
  readonly image: ImageEncoder;
  /** Learned log temperature of the contrastive loss (CLIP's logit scale). */
  readonly logScale: tf.Variable;
  /** Learned log scale of patch-prompt similarities (dense loss and maps). */
  readonly logMapScale: tf.Variable;

  constructor(config: VlmConfig, seed: number) {
    this.config = config;
    const rng = createRng(`vlm-init:${seed}`);
    this.image = new ImageEncoder(config.image, this.params, rng.fork());
    this.text = new TextEncoder(config.text, this.params, rng.fork());
    this.logScale = addParam(this.params, 'logit_scale', tf.scalar(Math.log(config.initLogitScale ?? 10)));
    this.logMapScale = addParam(this.params, 'map_scale', tf.scalar(Math.log(10)));
  }

  get variables(): tf.Variable[] {
    return [...this.params.values()];
  }

  /** Total number of trainable numbers. */
  get parameterCount(): number {
    return this.variables.reduce((a, v) => a + v.size, 0);
  }

  private scale(v: tf.Variable): tf.Scalar {
    return tf.exp(tf.minimum(v, MAX_LOG_SCALE)) as tf.Scalar;
  }

  /** Normalised patch embeddings [n, G, G, D] and normalised image embeddings [n, D] of raw images. */
  encodeImages(raw: tf.Tensor4D): { patches: tf.Tensor4D; image: tf.Tensor2D } {
    return tf.tidy(() => {
      const p = this.image.patches(ImageEncoder.normalise(raw));
      const image = tf.mean(p, [1, 2]) as tf.Tensor2D;
      return { patches: l2norm(p) as tf.Tensor4D, image: l2norm(image) as tf.Tensor2D };
    });
  }

  /**
   * The patches of encodeImages alone (the same kernels on the same values, so the same floats), without the
   * image embedding that maps do not use.
   */
  encodePatches(raw: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => l2norm(this.image.patches(ImageEncoder.normalise(raw))) as tf.Tensor4D);
  }

  /** Normalised text embeddings [n, D] of bag-of-words rows. */
  encodeTexts(bag: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => l2norm(this.text.embed(bag)) as tf.Tensor2D);
  }

  /**
   * The training loss: symmetric InfoNCE between images and captions, plus a dense patch-text loss from
   * the generated scenes' own geometry: each grid cell's softmax over its image's K category phrases
   * should match the cell's category fractions (`dense`), and for each non-background category the
   * two-way softmax against the background phrase — the very form of a map — should match too (`pair`);
   * and the image embedding should pick its digit's caption among the ten (`classify`).
   */
  loss(b: VlmBatch, w: LossWeights): { total: tf.Scalar; parts: Record<string, tf.Scalar> } {
    const { patches, image } = this.encodeImages(b.images);
    const n = b.images.shape[0];
    const texts = this.encodeTexts(tf.concat([b.captions, b.phrases, b.classTexts], 0) as tf.Tensor2D);
    const cap = tf.slice(texts, [0, 0], [n, -1]);
    const K = b.cellTargets.shape[2];
    const D = this.config.image.jointDim;
    const phr = tf.reshape(tf.slice(texts, [n, 0], [n * K, -1]), [n, K, D]);
    const cls = tf.slice(texts, [n + n * K, 0], [-1, -1]);

    const logits = tf.mul(tf.matMul(image, cap, false, true), this.scale(this.logScale));
    const ce = (l: tf.Tensor, t: tf.Tensor) => tf.neg(tf.mean(tf.sum(tf.mul(t, tf.logSoftmax(l)), -1)));
    const global = tf.div(tf.add(ce(logits, b.captionTargets), ce(tf.transpose(logits), tf.transpose(b.captionTargets))), 2) as tf.Scalar;

    const G2 = patches.shape[1] * patches.shape[2];
    const pf = tf.reshape(patches, [n, G2, D]);
    const cellLogits = tf.mul(tf.matMul(pf, phr, false, true), this.scale(this.logMapScale)) as tf.Tensor3D; // [n, G2, K]
    const dense = ce(cellLogits, b.cellTargets) as tf.Scalar;

    // Two-way softmax of each shape phrase against the background phrase, as a logistic loss on the
    // logit difference d: -log p(fg) t - log p(bg) (1 - t) = softplus(d) - t d.
    const fg = tf.slice(cellLogits, [0, 0, 1], [-1, -1, K - 1]);
    const d = tf.sub(fg, tf.slice(cellLogits, [0, 0, 0], [-1, -1, 1]));
    const t = tf.slice(b.cellTargets, [0, 0, 1], [-1, -1, K - 1]);
    const pair = tf.mean(tf.sub(tf.softplus(d), tf.mul(t, d))) as tf.Scalar;

    // Zero-shot classification as a contrastive task against the ten digit captions of the same form (the
    // scene's caption names its digit; here the candidates are all ten names instead of the batch's captions).
    const classify = ce(tf.mul(tf.matMul(image, cls, false, true), this.scale(this.logScale)), b.classTargets) as tf.Scalar;

    // The same at patch level: every cell on the digit (weighted by its digit fraction) should pick its
    // digit's caption among the ten. One label per image and the drawn geometry give ~40 signals per image
    // instead of one, which teaches digit identity much faster than the image-level losses alone.
    const cellCls = tf.reshape(tf.matMul(tf.reshape(pf, [n * G2, D]) as tf.Tensor2D, cls, false, true), [n, G2, -1]);
    const cellLog = tf.logSoftmax(tf.mul(cellCls, this.scale(this.logMapScale)));
    const onDigit = tf.slice(b.cellTargets, [0, 0, 1], [-1, -1, 1]); // [n, G2, 1]
    const picked = tf.sum(tf.mul(cellLog, tf.expandDims(b.classTargets, 1)), -1, true); // [n, G2, 1]
    const patchClassify = tf.div(tf.neg(tf.sum(tf.mul(picked, onDigit))), tf.add(tf.sum(onDigit), 1e-6)) as tf.Scalar;

    const total = tf.addN([
      tf.mul(global, w.global), tf.mul(dense, w.dense), tf.mul(pair, w.pair), tf.mul(classify, w.classify), tf.mul(patchClassify, w.patchClassify),
    ]) as tf.Scalar;
    return { total, parts: { global, dense, pair, classify, patchClassify } };
  }

  /**
   * Foreground maps on the patch grid [n, G, G]: per patch, the softmax over [foreground, ...background]
   * prompts of the scaled cosine similarities divided by `temperature` (< 1 sharpens), foreground's share.
   */
  gridMaps(patches: tf.Tensor4D, fg: tf.Tensor2D, bg: tf.Tensor2D, temperature: number): tf.Tensor3D {
    return tf.tidy(() => {
      const [n, gh, gw] = patches.shape;
      const p = this.gridSoftmax(patches, fg, bg, temperature);
      return tf.reshape(tf.slice(p, [0, 0], [-1, 1]), [n, gh, gw]) as tf.Tensor3D;
    });
  }

  /**
   * The whole softmax of gridMaps, [n * G * G, 1 + background prompts], patch-major: column 0 is the map.
   * For callers that read the map's column themselves (a strided read in JS is cheaper than tfjs's slice).
   */
  gridSoftmax(patches: tf.Tensor4D, fg: tf.Tensor2D, bg: tf.Tensor2D, temperature: number): tf.Tensor2D {
    return tf.tidy(() => {
      const [n, gh, gw, D] = patches.shape;
      const prompts = tf.concat([fg, bg], 0);
      const sims = tf.matMul(tf.reshape(patches, [n * gh * gw, D]) as tf.Tensor2D, prompts, false, true);
      return tf.softmax(tf.div(tf.mul(sims, this.scale(this.logMapScale)), temperature)) as tf.Tensor2D;
    });
  }

  dispose(): void {
    for (const v of this.params.values()) v.dispose();
  }
}

export function l2norm(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(x, tf.rsqrt(tf.add(tf.sum(tf.square(x), -1, true), 1e-12))));
}
