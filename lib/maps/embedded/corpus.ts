import type { GrayImages } from '../../data/types';
import { DIGIT_NAMES } from '../../data/bases/mnist';
import type { Rng } from '../../util/rng';
import { Vocabulary, tokenize } from './tokenizer';

/**
 * The synthetic image-caption corpus the embedded VLM learns from, generated on the fly from a seed.
 * A scene is one MNIST *training* digit in a colour drawn from a wide palette, on a varying background
 * (black, grey, noise), with 0-3 grey distractor shapes (squares, bars, dots) at random places. Every
 * choice (colour, background, distractors, positions, phrasing) is drawn independently of the digit's
 * label, so nothing but the digit's shape predicts the label. Captions come from a small grammar with
 * synonyms; backgrounds are named because a background prompt only means something if the corpus
 * varies and names backgrounds (docs/method.md section 6).
 */

export const SCENE_SIZE = 28;

/** Pixel categories of a scene, known exactly because we draw it (used by the dense patch-text loss). */
export const CATEGORIES = ['background', 'digit', 'square', 'bar', 'dot'] as const;
export type CategoryName = (typeof CATEGORIES)[number];
export const CAT_BG = 0, CAT_DIGIT = 1, CAT_SQUARE = 2, CAT_BAR = 3, CAT_DOT = 4;

export interface PaletteColour { name: string; rgb: [number, number, number] }

/** Digit colours: a wide palette, unrelated to ColorMNIST's ten (the label never chooses one). */
export const PALETTE: readonly PaletteColour[] = [
  { name: 'red', rgb: [230, 30, 30] }, { name: 'orange', rgb: [245, 140, 20] },
  { name: 'yellow', rgb: [240, 230, 40] }, { name: 'green', rgb: [40, 200, 60] },
  { name: 'cyan', rgb: [40, 220, 230] }, { name: 'blue', rgb: [40, 80, 240] },
  { name: 'purple', rgb: [150, 50, 200] }, { name: 'pink', rgb: [250, 120, 190] },
  { name: 'magenta', rgb: [230, 40, 230] }, { name: 'brown', rgb: [150, 90, 40] },
  { name: 'white', rgb: [255, 255, 255] }, { name: 'grey', rgb: [150, 150, 150] },
];

export type BackgroundKind = 'black' | 'grey' | 'noise';
export const BACKGROUND_NAMES: Record<BackgroundKind, readonly string[]> = {
  black: ['a black background', 'black', 'dark', 'a dark background', 'background', 'the background', 'nothing', 'an empty background'],
  grey: ['a grey background', 'a gray background', 'grey', 'gray', 'background', 'the background'],
  noise: ['noise', 'a noisy background', 'static', 'random noise', 'background', 'the background'],
};
const BACKGROUND_CAPTION: Record<BackgroundKind, readonly string[]> = {
  black: ['on a black background', 'on black', 'on a dark background', 'in the dark'],
  grey: ['on a grey background', 'on a gray background', 'on grey'],
  noise: ['on noise', 'on a noisy background', 'over static', 'on random noise'],
};

export const DIGIT_GENERIC = ['digit', 'number', 'numeral', 'handwritten digit', 'handwritten number', 'character', 'handwriting', 'writing'];
const DIGIT_STYLE = ['handwritten', 'written', 'scribbled'];
export const SHAPE_NOUNS: Record<'square' | 'bar' | 'dot', readonly string[]> = {
  square: ['square', 'patch', 'box', 'block'],
  bar: ['bar', 'line', 'stripe', 'stick'],
  dot: ['dot', 'spot', 'point', 'speck'],
};
const SHAPE_SHADE = { bright: ['white', 'bright'], dim: ['grey', 'gray'] };
const SIZE_WORDS = { small: ['small', 'little', 'tiny'], large: ['large', 'big'] };
const POSITION: Record<string, readonly string[]> = {
  'top left': ['in the top left corner', 'at the top left', 'in the upper left corner'],
  'top right': ['in the top right corner', 'at the top right', 'in the upper right corner'],
  'bottom left': ['in the bottom left corner', 'at the bottom left', 'in the lower left corner'],
  'bottom right': ['in the bottom right corner', 'at the bottom right', 'in the lower right corner'],
  top: ['at the top', 'near the top edge'], bottom: ['at the bottom', 'near the bottom edge'],
  left: ['on the left', 'near the left edge'], right: ['on the right', 'near the right edge'],
  middle: ['in the middle', 'in the centre', 'in the center'],
};
const CONNECT = ['with', 'and', 'next to', 'near'];
const NUMBER_WORDS = ['one', 'two', 'three'];

export interface Distractor {
  kind: 'square' | 'bar' | 'dot';
  row: number; col: number; height: number; width: number;
  level: number;
}

export interface Scene {
  /** 28 x 28 x 3 uint8, HWC. */
  image: Uint8Array;
  /** 28 x 28 pixel categories (CAT_*), distractors drawn over the digit. */
  category: Uint8Array;
  label: number;
  /** Index of the MNIST training image used. */
  source: number;
  colour: string;
  background: BackgroundKind;
  distractors: Distractor[];
  /** The caption for the global contrastive loss. */
  caption: string;
  /** One phrase per category for the dense patch-text loss (phrases for absent shapes are negatives). */
  phrases: Record<CategoryName, string>;
}

const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[rng.int(xs.length)];
const article = (next: string): string => (/^[aeiou]/.test(next) ? 'an' : 'a');
const clamp255 = (v: number): number => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));

/** Where a shape sits, in the words of the grammar (thirds of the image). */
export function positionName(row: number, col: number, h: number, w: number, size = SCENE_SIZE): string {
  const third = (c: number) => (c < size / 3 ? 0 : c < (2 * size) / 3 ? 1 : 2);
  const r = third(row + h / 2), c = third(col + w / 2);
  const rn = ['top', '', 'bottom'][r], cn = ['left', '', 'right'][c];
  if (rn && cn) return `${rn} ${cn}`;
  return rn || cn || 'middle';
}

function luminance(rgb: readonly number[]): number {
  return 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2];
}

/** A digit phrase: specific ("a red handwritten seven", "the number 7") or generic ("a digit"). */
function digitPhrase(rng: Rng, label: number, colour: string, specific: boolean, withColour: boolean): string {
  const words: string[] = [];
  if (withColour) words.push(colour);
  if (specific) {
    const name = rng.next() < 0.15 ? String(label) : DIGIT_NAMES[label];
    const form = rng.int(4);
    if (form === 0 && rng.next() < 0.6) words.push(pick(rng, DIGIT_STYLE));
    if (form === 1) words.push('digit');
    if (form === 2) words.push('number');
    if (form === 3) words.push(pick(rng, DIGIT_STYLE), 'digit');
    words.push(name);
  } else {
    const noun = pick(rng, DIGIT_GENERIC);
    if (rng.next() < 0.3 && !noun.includes('hand') && noun !== 'writing') words.push(pick(rng, DIGIT_STYLE));
    words.push(noun);
  }
  const det = rng.int(3);
  const body = words.join(' ');
  if (det === 0) return `the ${body}`;
  if (det === 1 && !/writing$/.test(body)) return `${article(body)} ${body}`;
  return body;
}

function shapePhrase(rng: Rng, d: Distractor, detail: boolean): string {
  const words: string[] = [];
  if (detail) {
    const size = Math.max(d.height, d.width);
    if (d.kind === 'square' && size <= 4 && rng.next() < 0.6) words.push(pick(rng, SIZE_WORDS.small));
    if (d.kind === 'square' && size >= 6 && rng.next() < 0.6) words.push(pick(rng, SIZE_WORDS.large));
    if (rng.next() < 0.6) words.push(pick(rng, d.level > 200 ? SHAPE_SHADE.bright : SHAPE_SHADE.dim));
  }
  words.push(pick(rng, SHAPE_NOUNS[d.kind]));
  const body = words.join(' ');
  let out = rng.next() < 0.8 ? `${article(body)} ${body}` : `the ${body}`;
  if (detail && rng.next() < 0.7) out += ` ${pick(rng, POSITION[positionName(d.row, d.col, d.height, d.width)])}`;
  return out;
}

/** The caption for the global loss: mostly full descriptions, sometimes one thing alone. */
function caption(rng: Rng, s: Omit<Scene, 'caption' | 'phrases'>): string {
  const u = rng.next();
  if (u < 0.08) return digitPhrase(rng, s.label, s.colour, false, rng.next() < 0.3);
  if (u < 0.15) return digitPhrase(rng, s.label, s.colour, true, rng.next() < 0.3);
  if (u < 0.2 && s.distractors.length > 0) return shapePhrase(rng, pick(rng, s.distractors), rng.next() < 0.5);
  const parts = [digitPhrase(rng, s.label, s.colour, rng.next() < 0.85, rng.next() < 0.6)];
  const mentioned = s.distractors.filter(() => rng.next() < 0.7);
  if (mentioned.length > 1 && mentioned.every((d) => d.kind === mentioned[0].kind) && rng.next() < 0.3) {
    parts.push(`${pick(rng, CONNECT)} ${NUMBER_WORDS[mentioned.length - 1]} ${pick(rng, SHAPE_NOUNS[mentioned[0].kind])}s`);
  } else {
    mentioned.forEach((d, i) => parts.push(`${i === 0 ? pick(rng, CONNECT) : 'and'} ${shapePhrase(rng, d, true)}`));
  }
  if (rng.next() < 0.6) parts.push(pick(rng, BACKGROUND_CAPTION[s.background]));
  return parts.join(' ');
}

/** One caption per digit class (0..9) in one grammar form drawn for all ten ("a handwritten seven", "the number 7", ...). */
export function classCaptions(rng: Rng): string[] {
  const form = rng.int(5);
  return DIGIT_NAMES.map((name, d) => {
    if (form === 0) return `a handwritten ${name}`;
    if (form === 1) return `the number ${d}`;
    if (form === 2) return `${article(name)} ${name}`;
    if (form === 3) return `the digit ${name}`;
    return `${name}`;
  });
}

/** Every word the grammar can produce, for the vocabulary. */
export function grammarTexts(): string[] {
  const texts: string[] = [...DIGIT_NAMES, ...DIGIT_GENERIC, ...DIGIT_STYLE, 'a an the digit number', ...CONNECT, ...NUMBER_WORDS];
  for (const c of PALETTE) texts.push(c.name);
  for (const k of Object.keys(BACKGROUND_NAMES) as BackgroundKind[]) texts.push(...BACKGROUND_NAMES[k], ...BACKGROUND_CAPTION[k]);
  for (const k of Object.keys(SHAPE_NOUNS) as (keyof typeof SHAPE_NOUNS)[]) texts.push(...SHAPE_NOUNS[k].map((n) => `${n} ${n}s`));
  texts.push(...SHAPE_SHADE.bright, ...SHAPE_SHADE.dim, ...SIZE_WORDS.small, ...SIZE_WORDS.large);
  for (const k of Object.keys(POSITION)) texts.push(...POSITION[k]);
  return texts;
}

export function corpusVocabulary(): Vocabulary {
  return Vocabulary.fromTexts(grammarTexts());
}

export interface SceneOptions {
  /** Probability of each background kind (black, grey, noise). */
  backgroundWeights?: [number, number, number];
}

/** Draws one scene from a digit source (MNIST training images only) with the given generator. */
export function makeScene(digits: GrayImages, rng: Rng, opts: SceneOptions = {}): Scene {
  const S = SCENE_SIZE;
  if (digits.height !== S || digits.width !== S) throw new Error(`scene digits must be ${S}x${S}`);
  const source = rng.int(digits.count);
  const label = digits.labels[source];
  const gray = digits.images.subarray(source * S * S, (source + 1) * S * S);

  // Background, drawn first and independently of the label.
  const [wb, wg] = opts.backgroundWeights ?? [0.4, 0.3, 0.3];
  const u = rng.next();
  const background: BackgroundKind = u < wb ? 'black' : u < wb + wg ? 'grey' : 'noise';
  const image = new Uint8Array(S * S * 3);
  const bgLevel = new Float32Array(S * S);
  if (background === 'grey') {
    const level = 40 + rng.int(141);
    bgLevel.fill(level);
  } else if (background === 'noise') {
    const base = rng.int(100), amp = 40 + rng.int(100);
    for (let i = 0; i < S * S; i++) bgLevel[i] = clamp255(base + amp * rng.next());
  }
  let meanBg = 0;
  for (let i = 0; i < S * S; i++) meanBg += bgLevel[i] / (S * S);

  // Digit colour: palette entry with brightness and per-channel jitter, kept visible against the background.
  let col = PALETTE[0], rgb: number[] = [];
  for (let tries = 0; tries < 10; tries++) {
    col = PALETTE[rng.int(PALETTE.length)];
    const b = 0.75 + 0.25 * rng.next();
    rgb = col.rgb.map((c) => clamp255(c * b + (rng.next() - 0.5) * 30));
    if (Math.abs(luminance(rgb) - meanBg) > 50) break;
  }
  const dy = rng.int(7) - 3, dx = rng.int(7) - 3;
  const category = new Uint8Array(S * S);
  for (let r = 0; r < S; r++) {
    for (let c = 0; c < S; c++) {
      const i = r * S + c;
      const sr = r - dy, sc = c - dx;
      const g = sr >= 0 && sr < S && sc >= 0 && sc < S ? gray[sr * S + sc] : 0;
      const a = g / 255;
      for (let k = 0; k < 3; k++) image[i * 3 + k] = clamp255(bgLevel[i] * (1 - a) + rgb[k] * a);
      if (g > 10) category[i] = CAT_DIGIT;
    }
  }

  // Distractors: grey shapes at random sizes and places (squares often in a corner, like a decoy patch).
  const distractors: Distractor[] = [];
  const nu = rng.next();
  const n = nu < 0.3 ? 0 : nu < 0.7 ? 1 : nu < 0.9 ? 2 : 3;
  for (let j = 0; j < n; j++) {
    const ku = rng.next();
    const kind = ku < 0.5 ? 'square' : ku < 0.75 ? 'bar' : 'dot';
    let h: number, w: number;
    if (kind === 'square') h = w = 4 + rng.int(4);
    else if (kind === 'bar') {
      const len = 6 + rng.int(9), th = 1 + rng.int(2);
      [h, w] = rng.next() < 0.5 ? [th, len] : [len, th];
    } else h = w = 2 + rng.int(2);
    let row: number, colPos: number;
    if (kind === 'square' && rng.next() < 0.5) {
      row = rng.int(2) === 0 ? rng.int(2) : S - h - rng.int(2);
      colPos = rng.int(2) === 0 ? rng.int(2) : S - w - rng.int(2);
    } else {
      row = rng.int(S - h + 1);
      colPos = rng.int(S - w + 1);
    }
    // Faint shapes too (DecoyMNIST's test patches go down to 25 on black), but never invisible.
    let level = 15 + rng.int(241);
    for (let tries = 0; tries < 10 && Math.abs(level - meanBg) < 15; tries++) level = 15 + rng.int(241);
    const d: Distractor = { kind, row, col: colPos, height: h, width: w, level };
    distractors.push(d);
    const cat = kind === 'square' ? CAT_SQUARE : kind === 'bar' ? CAT_BAR : CAT_DOT;
    for (let r = row; r < row + h; r++) {
      for (let c = colPos; c < colPos + w; c++) {
        // A 3x3 dot is drawn as a plus, so it is not a small square.
        if (kind === 'dot' && h === 3 && (r - row - 1) * (c - colPos - 1) !== 0) continue;
        const i = r * S + c;
        image[i * 3] = image[i * 3 + 1] = image[i * 3 + 2] = level;
        category[i] = cat;
      }
    }
  }

  const base = { image, category, label, source, colour: col.name, background, distractors };
  const first = (k: Distractor['kind']) => distractors.find((d) => d.kind === k);
  const shapeOrGeneric = (k: Distractor['kind']) => {
    const d = first(k);
    return d ? shapePhrase(rng, d, rng.next() < 0.3) : `${rng.next() < 0.5 ? 'a' : 'the'} ${pick(rng, SHAPE_NOUNS[k])}`;
  };
  const phrases: Record<CategoryName, string> = {
    background: pick(rng, BACKGROUND_NAMES[background]),
    digit: digitPhrase(rng, label, col.name, rng.next() < 0.35, rng.next() < 0.25),
    square: shapeOrGeneric('square'),
    bar: shapeOrGeneric('bar'),
    dot: shapeOrGeneric('dot'),
  };
  return { ...base, caption: caption(rng, base), phrases };
}

/** Words of a text that the grammar never produces (for tests and for reporting unknown prompt words). */
export function unknownWords(vocab: Vocabulary, text: string): string[] {
  return tokenize(text).filter((w) => !vocab.has(w));
}
