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

  /**
   * Bag-of-words rows [n, V] of texts: each word's share 1/len goes to its id, or, for a word WordNet reads as
   * a blend of known words, is split over their ids by the blend's weights (so the word's embedding is the
   * weighted mean of theirs). Rows of texts without blended words are exactly `bagOfWords` of their ids:
   * prompts of known words read the same, bit for bit, whatever the word-reading rule.
   */
  static bagRows(vocab: Vocabulary, texts: readonly string[], maxLen: number): Float32Array {
    const V = vocab.size;
    const ids = vocab.encodeBatch(texts, maxLen);
    const bag = TextEncoder.bagOfWords(ids, texts.length, maxLen, V);
    texts.forEach((t, i) => {
      const blends = vocab.blends(t).slice(0, maxLen);
      if (!blends.some((b) => b)) return;
      const row = bag.subarray(i * V, (i + 1) * V);
      row.fill(0);
      const len = blends.length;
      blends.forEach((b, j) => {
        if (b) for (const { id, weight } of b) row[id] += weight / len;
        else row[ids[i * maxLen + j]] += 1 / len;
      });
    });
    return bag;
  }

  /** Bag-of-words matrix of texts, ready for `embed`. */
  static bagOfTexts(vocab: Vocabulary, texts: readonly string[], maxLen: number): tf.Tensor2D {
    return tf.tensor2d(TextEncoder.bagRows(vocab, texts, maxLen), [texts.length, vocab.size]);
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
