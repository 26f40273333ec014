import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../../util/rng';
import { addParam, heNormal, type ParamMap } from './params';
import { PAD_ID, type Vocabulary } from './tokenizer';

export interface TextEncoderConfig {
  vocabSize: number;
  /** Word embedding width. */
  embedDim: number;
  /** Hidden width of the MLP. */
  hiddenDim: number;
  /** Joint image-text space width. */
  jointDim: number;
}

/**
 * Bag-of-words text encoder: the mean of the prompt's word embeddings, then a two-layer MLP into the
 * joint space. Word order is ignored (the grammar's meaning is carried by which words occur). The mean
 * is a matrix product of normalised word counts with the embedding table, which keeps the gradient on
 * MatMul (the wasm backend has no gradient kernel for Gather).
 */
export class TextEncoder {
  readonly config: TextEncoderConfig;
  private readonly emb: tf.Variable;
  private readonly w1: tf.Variable;
  private readonly b1: tf.Variable;
  private readonly w2: tf.Variable;
  private readonly b2: tf.Variable;

  constructor(config: TextEncoderConfig, params: ParamMap, rng: Rng) {
    this.config = config;
    const { vocabSize: V, embedDim: E, hiddenDim: H, jointDim: D } = config;
    this.emb = addParam(params, 'text/embedding', tf.mul(heNormal(rng, [V, E], 1), 0.5));
    this.w1 = addParam(params, 'text/dense1/kernel', heNormal(rng, [E, H], E));
    this.b1 = addParam(params, 'text/dense1/bias', tf.zeros([H]));
    this.w2 = addParam(params, 'text/dense2/kernel', heNormal(rng, [H, D], H));
    this.b2 = addParam(params, 'text/dense2/bias', tf.zeros([D]));
  }

  /** Normalised bag-of-words counts [n, V] of token id rows [n, maxLen] (PAD ignored). */
  static bagOfWords(ids: Int32Array, n: number, maxLen: number, vocabSize: number): Float32Array {
    const bag = new Float32Array(n * vocabSize);
    for (let i = 0; i < n; i++) {
      let len = 0;
      for (let j = 0; j < maxLen; j++) if (ids[i * maxLen + j] !== PAD_ID) len++;
      for (let j = 0; j < maxLen; j++) {
        const id = ids[i * maxLen + j];
        if (id !== PAD_ID) bag[i * vocabSize + id] += 1 / len;
      }
    }
    return bag;
  }

  /** Bag-of-words matrix of texts, ready for `embed`. */
  static bagOfTexts(vocab: Vocabulary, texts: readonly string[], maxLen: number): tf.Tensor2D {
    const ids = vocab.encodeBatch(texts, maxLen);
    return tf.tensor2d(TextEncoder.bagOfWords(ids, texts.length, maxLen, vocab.size), [texts.length, vocab.size]);
  }

  /** Text embeddings [n, D] (not normalised) from bag-of-words rows [n, V]. */
  embed(bag: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const mean = tf.matMul(bag, this.emb);
      const h = tf.relu(tf.add(tf.matMul(mean, this.w1), this.b1));
      return tf.add(tf.matMul(h, this.w2), this.b2) as tf.Tensor2D;
    });
  }
}
