import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { ImageSplit } from '../../data/types';
import { activeBackend, initBackend } from '../../backend';
import { UserError } from '../../util/errors';
import { canonicalJson } from '../../util/canonical-json';
import { sha256 } from '../../util/hash';
import { createRng, permutation } from '../../util/rng';
import { readSealedJson, writeSealedJson } from '../../util/sealed';
import { PALETTE } from './corpus';
import { TextEncoder } from './text-encoder';
import { splitImages } from './generator';
import { tokenize, type Vocabulary } from './tokenizer';
import type { LoadedVlm } from './checkpoint';

/**
 * An attribute prompt ("colour") as a constraint on input directions, derived from the embedded VLM
 * rather than written by hand (docs/training.md, "Prompt-guided RRR").
 *
 * The attribute names a set of values the VLM has words for (colour: the colour words of its
 * training corpus, PALETTE), put in the prompt's other words as context ("colour of a digit" -> "red a
 * digit", "green a digit", ...). For an image x the VLM's belief about the value is
 *     p(v | x) = softmax_v( s * cos(image(x), text(value prompt v)) )
 * with s the model's contrastive logit scale. The input directions that change this belief are
 * those of its Fisher information: per pixel p,
 *     F_p(x) = sum_v p(v|x) * d_p log p(v|x) d_p log p(v|x)^T        (3x3, RGB)
 * where d_p is the gradient with respect to pixel p's RGB values (tf.grad through the image encoder).
 * M = mean over a seeded sample of training images of sum_p F_p(x) is the attribute's second-moment
 * matrix of input directions; the penalty uses C = M / lambda_max(M): the direction the VLM reads the
 * attribute from most gets weight 1, as each direction does in the hand-coded OFF_GREY3. Pixel space
 * here is the VLM's raw RGB (0..255); the CNN's input is an affine map of it with the same scale on
 * every channel plus a spatial resize that does not mix channels, so the 3x3 direction matrix carries
 * over unchanged (up to a scale that the normalisation removes).
 */

/** Attribute names the VLM's vocabulary covers, and the value words each stands for. */
export const ATTRIBUTE_VALUES: Record<string, () => readonly string[]> = {
  colour: () => PALETTE.map((c) => c.name),
};
const ATTRIBUTE_ALIASES: Record<string, string> = { color: 'colour', colours: 'colour', colors: 'colour', hue: 'colour' };

/** Default number of training images the matrix is estimated on, and the seed of that sample. */
export const ATTRIBUTE_SAMPLE = 256;
export const ATTRIBUTE_SEED = 0;
/** Version of this computation (part of the cache key: a change of method must not reuse old files). */
const ATTRIBUTE_VERSION = 1;

export interface AttributeSpec {
  /**
   * The attribute prompt: a known attribute name with optional context words ("colour", "colour of a
   * digit": each value word goes with the context the VLM knows, "red a digit"), or a comma-separated
   * list of value words ("red,green,blue").
   */
  attribute: string;
  sample?: number;
  seed?: number;
}

export interface AttributeMatrix {
  attribute: string;
  /** The context words the value words were put in ('' for none), and prompt words the VLM does not know (ignored). */
  context: string;
  ignoredWords: string[];
  /** The value prompts the softmax runs over. */
  values: string[];
  /** C = M / lambda_max(M), 3x3 row-major, symmetric PSD, rounded to 1e-6. */
  matrix: number[];
  /** Eigenvalues of C, descending, and the matching unit eigenvectors (rows). */
  eigenvalues: number[];
  eigenvectors: number[][];
  /** Images the estimate used (a seeded sample of the training split) and the seed. */
  images: number;
  seed: number;
  /** How close C is to the hand-coded OFF_GREY3 (I - 11^T/3). */
  reference: AttributeReference;
}

export interface AttributeReference {
  name: 'OFF_GREY3';
  /** Frobenius cosine <C, OFF_GREY3> / (|C| |OFF_GREY3|): 1 when C is a multiple of OFF_GREY3. */
  cosine: number;
  /** u^T C u / tr C with u the unit grey axis: the share of the penalty on intensity (0 for OFF_GREY3). */
  greyShare: number;
  /** Angle in degrees between C's least-penalised direction and the grey axis (0 for OFF_GREY3). */
  freeAxisAngleToGrey: number;
}

/** Words that link an attribute name to its context ("colour of a digit", "colour on clothing"). */
const LINK_WORDS = new Set(['of', 'on', 'in', 'for']);

/**
 * The value prompts of an attribute prompt. A comma-separated list is the value words themselves; otherwise
 * the prompt must name a known attribute ("colour", or an alias) and its other words the VLM knows are the
 * context each value word is put in (bag of words: "red a digit" = "a red digit"); words it does not know
 * are ignored (reported in `ignored`).
 */
export function parseAttributePrompt(attribute: string, vocab: Vocabulary): { values: string[]; context: string; prompts: string[]; ignored: string[] } {
  if (attribute.includes(',')) {
    const values = attribute.split(',').map((s) => s.trim()).filter(Boolean);
    const unknown = values.filter((v) => tokenize(v).some((w) => !vocab.has(w)));
    if (unknown.length) throw new UserError(`attribute prompt ${JSON.stringify(attribute)}: the embedded VLM does not know ${unknown.map((u) => JSON.stringify(u)).join(', ')}`);
    if (values.length < 2) throw new UserError(`attribute prompt ${JSON.stringify(attribute)} needs at least two value words`);
    return { values, context: '', prompts: values, ignored: [] };
  }
  const words = tokenize(attribute);
  const names = words.filter((w) => ATTRIBUTE_VALUES[ATTRIBUTE_ALIASES[w] ?? w]);
  if (names.length !== 1) {
    throw new UserError(`attribute prompt ${JSON.stringify(attribute)}: name one attribute the embedded VLM knows (${Object.keys(ATTRIBUTE_VALUES).join(', ')}), e.g. "colour of a digit", or give value words as a comma-separated list, e.g. "red,green,blue"`);
  }
  const values = ATTRIBUTE_VALUES[ATTRIBUTE_ALIASES[names[0]] ?? names[0]]().filter((v) => tokenize(v).every((w) => vocab.has(w)));
  if (values.length < 2) throw new UserError(`attribute prompt ${JSON.stringify(attribute)}: the VLM knows fewer than two of its value words`);
  // the word that ties the attribute to its context ("colour of a digit") is syntax, not context: "red a digit",
  // not "red of a digit", also for a vocabulary that knows "of" (the broad corpus says "a piece of clothing")
  const at = words.indexOf(names[0]);
  const rest = words.filter((w, i) => i !== at && !(i === at + 1 && LINK_WORDS.has(w)));
  const known = rest.filter((w) => vocab.has(w));
  const context = known.join(' ');
  return { values, context, prompts: values.map((v) => (context ? `${v} ${context}` : v)), ignored: rest.filter((w) => !vocab.has(w)) };
}

/** Seeded sample of split indices (sorted). */
export function attributeSampleIndices(count: number, sample: number, seed: number): Int32Array {
  return permutation(count, createRng(`attribute-sample:${seed}`)).slice(0, Math.min(sample, count)).sort();
}

/**
 * The raw second-moment matrix M (3x3, row-major, float64 sums) of the Fisher directions of the
 * attribute posterior over the given images (mean over images, sum over pixels).
 */
export function attributeMoment(vlm: LoadedVlm, split: ImageSplit, indices: ArrayLike<number>, prompts: readonly string[], batch = 64): number[] {
  const { model, vocab } = vlm;
  const M = new Float64Array(9);
  const V = prompts.length;
  const logScale = model.params.get('logit_scale');
  if (!logScale) throw new Error('the VLM has no logit_scale parameter');
  const texts = tf.tidy(() => model.encodeTexts(TextEncoder.bagOfTexts(vocab, prompts, model.config.maxLen)));
  try {
    for (let s = 0; s < indices.length; s += batch) {
      const part = Array.from({ length: Math.min(batch, indices.length - s) }, (_, k) => indices[s + k]);
      tf.tidy(() => {
        const x = splitImages(split, part);
        const scale = tf.exp(tf.minimum(logScale, Math.log(100)));
        const logp = (xx: tf.Tensor4D) => tf.logSoftmax(tf.mul(tf.matMul(model.encodeImages(xx).image, texts, false, true), scale), 1) as tf.Tensor2D;
        const p = tf.exp(logp(x)) as tf.Tensor2D; // [n, V]
        for (let v = 0; v < V; v++) {
          const g = tf.grad((xx: tf.Tensor) => tf.sum(tf.slice(logp(xx as tf.Tensor4D), [0, v], [-1, 1])))(x); // [n, H, W, 3]
          const [n, H, W] = g.shape;
          const w = tf.sqrt(tf.slice(p, [0, v], [-1, 1])); // weight p(v|x) on g g^T = (sqrt(p) g)(sqrt(p) g)^T
          const gw = tf.reshape(tf.mul(tf.reshape(g, [n, H * W * 3]), w), [n * H * W, 3]) as tf.Tensor2D;
          const outer = tf.matMul(gw, gw, true, false).dataSync();
          for (let k = 0; k < 9; k++) M[k] += outer[k];
        }
      });
    }
  } finally {
    texts.dispose();
  }
  const n = Math.max(1, indices.length);
  return Array.from(M, (m) => m / n);
}

/** Eigen-decomposition of a symmetric 3x3 matrix (cyclic Jacobi): eigenvalues descending, eigenvectors as rows. */
export function symmetricEigen3(a: readonly number[]): { values: number[]; vectors: number[][] } {
  const A = [[a[0], a[1], a[2]], [a[3], a[4], a[5]], [a[6], a[7], a[8]]];
  const V = [[1, 0, 0], [0, 1, 0], [0, 0, 1]];
  for (let sweep = 0; sweep < 50; sweep++) {
    const off = A[0][1] ** 2 + A[0][2] ** 2 + A[1][2] ** 2;
    if (off < 1e-30 * (A[0][0] ** 2 + A[1][1] ** 2 + A[2][2] ** 2 + 1e-300)) break;
    for (const [p, q] of [[0, 1], [0, 2], [1, 2]]) {
      if (Math.abs(A[p][q]) < 1e-300) continue;
      const theta = (A[q][q] - A[p][p]) / (2 * A[p][q]);
      const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
      const c = 1 / Math.sqrt(t * t + 1), sn = t * c;
      for (let k = 0; k < 3; k++) { // A <- A J
        const akp = A[k][p], akq = A[k][q];
        A[k][p] = c * akp - sn * akq; A[k][q] = sn * akp + c * akq;
      }
      for (let k = 0; k < 3; k++) { // A <- J^T A
        const apk = A[p][k], aqk = A[q][k];
        A[p][k] = c * apk - sn * aqk; A[q][k] = sn * apk + c * aqk;
      }
      for (let k = 0; k < 3; k++) { // V <- V J (columns are eigenvectors)
        const vkp = V[k][p], vkq = V[k][q];
        V[k][p] = c * vkp - sn * vkq; V[k][q] = sn * vkp + c * vkq;
      }
    }
  }
  const order = [0, 1, 2].sort((i, j) => A[j][j] - A[i][i]);
  return { values: order.map((i) => A[i][i]), vectors: order.map((i) => [V[0][i], V[1][i], V[2][i]]) };
}

/** How close a 3x3 penalty matrix is to OFF_GREY3 (AttributeReference). */
export function compareToOffGrey(c: readonly number[]): AttributeReference {
  const ref = [2 / 3, -1 / 3, -1 / 3, -1 / 3, 2 / 3, -1 / 3, -1 / 3, -1 / 3, 2 / 3];
  const dot = c.reduce((s, v, i) => s + v * ref[i], 0);
  const norm = (m: readonly number[]) => Math.sqrt(m.reduce((s, v) => s + v * v, 0));
  const tr = c[0] + c[4] + c[8];
  const uCu = c.reduce((s, v) => s + v, 0) / 3; // u = (1,1,1)/sqrt 3: u^T C u = sum of entries / 3
  const { vectors } = symmetricEigen3(c);
  const free = vectors[2];
  const cosAng = Math.abs(free[0] + free[1] + free[2]) / Math.sqrt(3);
  return {
    name: 'OFF_GREY3',
    cosine: dot / (norm(c) * norm(ref) || 1),
    greyShare: tr > 0 ? uCu / tr : 0,
    freeAxisAngleToGrey: (Math.acos(Math.min(1, cosAng)) * 180) / Math.PI,
  };
}

const round6 = (v: number) => Math.round(v * 1e6) / 1e6 + 0; // + 0: no -0 in JSON

/** C = M / lambda_max(M), made exactly symmetric and rounded (so cached and fresh values are identical). */
export function normaliseMoment(m: readonly number[]): number[] {
  const { values } = symmetricEigen3(m);
  const top = values[0];
  if (!(top > 0)) throw new UserError('the attribute prompt gives no input direction (the VLM\'s attribute posterior does not change with the pixels of these images)');
  const sym = [0, 1, 2].flatMap((i) => [0, 1, 2].map((j) => (m[i * 3 + j] + m[j * 3 + i]) / 2 / top));
  return sym.map(round6);
}

/** Computes the attribute matrix (no cache). */
export async function computeAttributeMatrix(vlm: LoadedVlm, split: ImageSplit, spec: AttributeSpec): Promise<AttributeMatrix> {
  if (!activeBackend()) await initBackend();
  const { prompts, context, ignored } = parseAttributePrompt(spec.attribute, vlm.vocab);
  const seed = spec.seed ?? ATTRIBUTE_SEED;
  const idx = attributeSampleIndices(split.count, spec.sample ?? ATTRIBUTE_SAMPLE, seed);
  if (idx.length === 0) throw new UserError('the attribute prompt needs training images; the split is empty');
  const matrix = normaliseMoment(attributeMoment(vlm, split, idx, prompts));
  const { values: ev, vectors } = symmetricEigen3(matrix);
  return {
    attribute: spec.attribute, context, ignoredWords: ignored, values: prompts, matrix,
    eigenvalues: ev.map(round6), eigenvectors: vectors.map((v) => v.map(round6)),
    images: idx.length, seed, reference: compareToOffGrey(matrix),
  };
}

/**
 * The 'free-axis' form of an attribute matrix: I - v v^T with v the direction the VLM reads the
 * attribute from least (the eigenvector of C's smallest eigenvalue): every direction but that one is
 * penalised fully. OFF_GREY3 is this form with v the grey axis.
 */
export function freeAxisMatrix(a: Pick<AttributeMatrix, 'matrix'>): number[] {
  const v = symmetricEigen3(a.matrix).vectors[2];
  return [0, 1, 2].flatMap((i) => [0, 1, 2].map((j) => round6((i === j ? 1 : 0) - v[i] * v[j])));
}

/** Identifies a VLM checkpoint by its content: model config and manifest, weights, vocabulary (checkpointIdentity). */
export function vlmCheckpointHash(vlm: Pick<LoadedVlm, 'meta'>): string {
  return vlm.meta.identity;
}

/**
 * The attribute matrix of a dataset's training split, cached as JSON under `cacheDir`, keyed on the
 * dataset checksum, the VLM checkpoint hash, the attribute, the value prompts it is read as and the sample.
 */
export async function attributeMatrix(
  vlm: LoadedVlm, ds: { name: string; checksum: string; train: ImageSplit }, spec: AttributeSpec, cacheDir: string,
): Promise<AttributeMatrix & { cacheKey: string; cached: boolean }> {
  // keyed on the value prompts the attribute is read as, not only on its text: a change in how a prompt is read
  // (another vocabulary, another parsing rule) must not reuse a matrix made from other prompts
  const keySpec = {
    v: ATTRIBUTE_VERSION, dataset: ds.checksum, checkpoint: vlmCheckpointHash(vlm), attribute: spec.attribute,
    values: parseAttributePrompt(spec.attribute, vlm.vocab).prompts,
    sample: spec.sample ?? ATTRIBUTE_SAMPLE, seed: spec.seed ?? ATTRIBUTE_SEED,
  };
  const cacheKey = sha256(Buffer.from(canonicalJson(keySpec)));
  const file = path.join(cacheDir, `${ds.name}-${cacheKey.slice(0, 16)}.json`);
  if (fs.existsSync(file)) {
    try {
      // Sealed with its SHA-256: a damaged file (a changed digit of the matrix) is recomputed, never used.
      const hit = readSealedJson<{ cacheKey: string; matrix: AttributeMatrix }>(file, 'attribute cache')!;
      if (hit.cacheKey === cacheKey && Array.isArray(hit.matrix?.matrix)) return { ...hit.matrix, cacheKey, cached: true };
    } catch { /* a corrupt cache file is recomputed */ }
  }
  const m = await computeAttributeMatrix(vlm, ds.train, spec);
  writeSealedJson(file, { cacheKey, key: keySpec, matrix: m });
  return { ...m, cacheKey, cached: false };
}
