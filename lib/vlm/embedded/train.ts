import * as tf from '@tensorflow/tfjs';
import type { GrayImages } from '../../data/types';
import { createRng, type Rng } from '../../util/rng';
import { CORPORA, SCENE_SIZE, classCaptions, classIndex, corpusVocabulary, isBroadCorpus, makeScene, sceneCategories, type Scene, type SceneOptions, type SceneSources } from './corpus';
import { DEFAULT_VLM_CONFIG, VlmModel, type LossWeights, type VlmBatch, type VlmConfig } from './model';
import { TextEncoder } from './text-encoder';
import { UNK_ID, type Vocabulary } from './tokenizer';

export interface TrainOptions {
  seed: number;
  steps: number;
  batch: number;
  /** Peak Adam learning rate (linear warm-up over the first 5 % of steps, cosine decay to 5 % of it). */
  lr: number;
  weights: LossWeights;
  /** Probability that a caption word is replaced by UNK, so unknown words learn to mean nothing much. */
  wordDropout: number;
  scene: SceneOptions;
  /** Model shape (defaults to DEFAULT_VLM_CONFIG for the corpus vocabulary). */
  model?: Partial<Pick<VlmConfig, 'text' | 'image' | 'initLogitScale'>>;
}

export const DEFAULT_TRAIN_OPTIONS: TrainOptions = {
  seed: 1, steps: 1600, batch: 64, lr: 3e-3,
  weights: { global: 1, dense: 1, pair: 2, classify: 1, patchClassify: 1 },
  wordDropout: 0.05,
  scene: {},
};

/** Training steps per corpus: the broad corpus (20 object classes, frames) trains 5x as long as the digit one (1,600,
 * 2,400 and 4,800 steps left Fashion-MNIST zero-shot at 75-81 %, docs/embedded-vlm.md). */
export const CORPUS_STEPS: Record<keyof typeof CORPORA, number> = { digits: 1600, broad: 8000 };

export interface TrainStepLog { step: number; loss: number; global: number; dense: number; pair: number; classify: number; patchClassify: number; lr: number }

export interface TrainResult {
  model: VlmModel;
  vocab: Vocabulary;
  options: TrainOptions;
  history: TrainStepLog[];
  seconds: number;
  imagesPerSecond: number;
}

const GRID = SCENE_SIZE / 2;

/** Encodes texts with word dropout (seeded) into bag-of-words rows. */
function bagWithDropout(vocab: Vocabulary, texts: string[], maxLen: number, p: number, rng: Rng): Float32Array {
  const ids = vocab.encodeBatch(texts, maxLen, false); // the grammar's own words: no WordNet mapping
  if (p > 0) for (let i = 0; i < ids.length; i++) if (ids[i] > UNK_ID && rng.next() < p) ids[i] = UNK_ID;
  return TextEncoder.bagOfWords(ids, texts.length, maxLen, vocab.size);
}

/** Turns generated scenes into the tensors of one training step (caller disposes); `scene` is the corpus's options. */
export function scenesToBatch(scenes: Scene[], vocab: Vocabulary, maxLen: number, wordDropout: number, rng: Rng, scene: SceneOptions = {}): VlmBatch {
  const B = scenes.length, S = SCENE_SIZE;
  const cats = sceneCategories(scene), K = cats.length;
  const img = new Float32Array(B * S * S * 3);
  scenes.forEach((s, i) => img.set(s.image, i * S * S * 3));
  const captions = scenes.map((s) => s.caption);
  // Identical captions are equally right for each other's images: they share the target mass.
  const targets = new Float32Array(B * B);
  for (let i = 0; i < B; i++) {
    let c = 0;
    for (let j = 0; j < B; j++) if (captions[j] === captions[i]) c++;
    for (let j = 0; j < B; j++) if (captions[j] === captions[i]) targets[i * B + j] = 1 / c;
  }
  const phrases: string[] = [];
  for (const s of scenes) for (const c of cats) phrases.push(s.phrases[c]);
  const cells = new Float32Array(B * GRID * GRID * K);
  scenes.forEach((s, i) => {
    for (let r = 0; r < S; r++) {
      for (let c = 0; c < S; c++) {
        const cell = (r >> 1) * GRID + (c >> 1);
        cells[(i * GRID * GRID + cell) * K + s.category[r * S + c]] += 0.25;
      }
    }
  });
  const classes = classCaptions(rng, isBroadCorpus(scene));
  const onehot = new Float32Array(B * classes.length);
  scenes.forEach((s, i) => (onehot[i * classes.length + classIndex(s)] = 1));
  return {
    classTexts: tf.tensor2d(bagWithDropout(vocab, classes, maxLen, 0, rng), [classes.length, vocab.size]),
    classTargets: tf.tensor2d(onehot, [B, classes.length]),
    images: tf.tensor4d(img, [B, S, S, 3]),
    captions: tf.tensor2d(bagWithDropout(vocab, captions, maxLen, wordDropout, rng), [B, vocab.size]),
    captionTargets: tf.tensor2d(targets, [B, B]),
    phrases: tf.tensor2d(bagWithDropout(vocab, phrases, maxLen, wordDropout, rng), [B * K, vocab.size]),
    cellTargets: tf.tensor3d(cells, [B, GRID * GRID, K]),
  };
}

export function learningRateAt(step: number, steps: number, peak: number): number {
  const warm = Math.max(1, Math.round(0.05 * steps));
  if (step < warm) return (peak * (step + 1)) / warm;
  const t = (step - warm) / Math.max(1, steps - warm);
  return peak * (0.05 + 0.95 * 0.5 * (1 + Math.cos(Math.PI * t)));
}

export function modelConfigFor(vocab: Vocabulary, opts: TrainOptions): VlmConfig {
  const base = DEFAULT_VLM_CONFIG(vocab.size);
  return {
    ...base,
    text: { ...base.text, ...(opts.model?.text ?? {}), vocabSize: vocab.size },
    image: { ...base.image, ...(opts.model?.image ?? {}) },
    initLogitScale: opts.model?.initLogitScale ?? base.initLogitScale,
  };
}

/**
 * Trains the embedded VLM from scratch on scenes generated from training images only: MNIST digits, and
 * Fashion-MNIST items when the corpus options ask for them.
 * Deterministic for a seed on one backend: scenes, word dropout and initial weights all come from
 * streams of the seed, and every step runs the same ops in the same order.
 */
export async function trainVlm(
  sources: GrayImages | SceneSources, opts: TrainOptions,
  onStep?: (log: TrainStepLog) => void,
): Promise<TrainResult> {
  const vocab = corpusVocabulary(opts.scene);
  const config = modelConfigFor(vocab, opts);
  const model = new VlmModel(config, opts.seed);
  const rng = createRng(`vlm-train:${opts.seed}`);
  const sceneRng = rng.fork(), dropRng = rng.fork();
  const optimizer = tf.train.adam(opts.lr);
  const history: TrainStepLog[] = [];
  const t0 = Date.now();
  const vars = model.variables;
  for (let step = 0; step < opts.steps; step++) {
    const lr = learningRateAt(step, opts.steps, opts.lr);
    (optimizer as unknown as { learningRate: number }).learningRate = lr;
    const scenes = Array.from({ length: opts.batch }, () => makeScene(sources, sceneRng, opts.scene));
    const batch = scenesToBatch(scenes, vocab, config.maxLen, opts.wordDropout, dropRng, opts.scene);
    let parts: Record<string, tf.Scalar> = {};
    const loss = optimizer.minimize(() => {
      const l = model.loss(batch, opts.weights);
      parts = Object.fromEntries(Object.entries(l.parts).map(([k, v]) => [k, tf.keep(v)]));
      return l.total;
    }, true, vars) as tf.Scalar;
    const log: TrainStepLog = {
      step: step + 1, loss: loss.dataSync()[0], lr,
      global: parts.global.dataSync()[0], dense: parts.dense.dataSync()[0], pair: parts.pair.dataSync()[0],
      classify: parts.classify.dataSync()[0], patchClassify: parts.patchClassify.dataSync()[0],
    };
    loss.dispose();
    for (const v of Object.values(parts)) v.dispose();
    for (const t of Object.values(batch)) (t as tf.Tensor).dispose();
    history.push(log);
    onStep?.(log);
    if (step % 20 === 0) await new Promise((r) => setImmediate(r)); // let progress output flush
  }
  optimizer.dispose();
  const seconds = (Date.now() - t0) / 1000;
  return { model, vocab, options: opts, history, seconds, imagesPerSecond: (opts.steps * opts.batch) / seconds };
}
