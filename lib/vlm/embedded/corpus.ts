import type { GrayImages } from '../../data/types';
import { DIGIT_NAMES } from '../../data/bases/mnist';
import { FASHION_CLASSES } from '../../data/bases/fashion-mnist';
import type { Rng } from '../../util/rng';
import { UserError } from '../../util/errors';
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
export const CATEGORIES = ['background', 'digit', 'square', 'bar', 'dot', 'frame'] as const;
export type CategoryName = (typeof CATEGORIES)[number];
/** CAT_DIGIT is the scene's object: a digit, or a Fashion-MNIST item in the broad corpus. */
export const CAT_BG = 0, CAT_DIGIT = 1, CAT_SQUARE = 2, CAT_BAR = 3, CAT_DOT = 4, CAT_FRAME = 5;

/** The categories the dense loss runs over: the digit corpus has no frames (so its K stays 5). */
export function sceneCategories(opts: SceneOptions = {}): readonly CategoryName[] {
  return (opts.frameProbability ?? 0) > 0 ? CATEGORIES : CATEGORIES.slice(0, 5);
}

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

/**
 * Fashion-MNIST classes (lib/data/bases/fashion-mnist's order) as the grammar names them: the first name
 * is the class name zero-shot evaluation uses; the others are synonyms a caption may use instead.
 */
export const FASHION_NAMES: readonly (readonly string[])[] = [
  ['t-shirt', 'tee'], ['trouser', 'trousers', 'pants'], ['pullover', 'sweater', 'jumper'], ['dress'], ['coat', 'jacket'],
  ['sandal'], ['shirt', 'blouse'], ['sneaker', 'trainer'], ['bag', 'handbag', 'purse'], ['ankle boot', 'boot'],
];
if (FASHION_NAMES.some((n, i) => n[0] !== FASHION_CLASSES[i])) throw new Error('FASHION_NAMES must follow FASHION_CLASSES');
/** Every Fashion-MNIST item, whatever its class: the "clothing" prompt must cover shoes and bags too. */
export const FASHION_GENERIC = ['clothing', 'garment', 'clothes', 'item of clothing', 'piece of clothing', 'apparel', 'fashion item'];
/** Category names of some classes (sandal, sneaker, ankle boot are shoes; tops are garments worn on top). */
const FASHION_CATEGORY: Record<number, readonly string[]> = { 5: ['shoe', 'footwear'], 7: ['shoe', 'footwear'], 9: ['shoe', 'footwear'], 8: ['bag', 'accessory'] };
/** Any scene object, digit or item. */
export const OBJECT_GENERIC = ['object', 'thing', 'item', 'foreground'];
// Not 'edge': the grammar's positions say "near the top edge" of shapes anywhere along it.
export const FRAME_NOUNS = ['frame', 'border', 'outline', 'rim', 'margin'];
const FRAME_WIDTH_WORDS = { thin: ['thin', 'narrow'], thick: ['thick', 'wide'] };
const FRAME_CONNECT = ['in', 'inside', 'with', 'framed by', 'surrounded by'];

/** Number of object classes of the corpus: 10 digits, then 10 Fashion-MNIST classes in the broad corpus. */
export const FASHION_LABEL_OFFSET = 10;
const NUMBER_WORDS = ['one', 'two', 'three'];

export interface Distractor {
  kind: 'square' | 'bar' | 'dot';
  row: number; col: number; height: number; width: number;
  level: number;
}

export type ObjectKind = 'digit' | 'fashion';

/** A frame along the image border: `width` pixels wide, `inset` pixels in from the edge, at grey `level`. */
export interface Frame { width: number; inset: number; level: number }

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
  /** The border frame, if drawn (broad corpus only). */
  frame?: Frame;
  /** 'digit' or 'fashion': which source the object comes from (label is 0-9 within it). */
  kind: ObjectKind;
  /** The caption for the global contrastive loss. */
  caption: string;
  /** One phrase per category for the dense patch-text loss (phrases for absent shapes are negatives; 'frame' is '' without frames). */
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

/** The scene's object in words: a digit phrase, or in the broad corpus a Fashion-MNIST item or "an object". */
function objectPhrase(rng: Rng, s: { kind: ObjectKind; label: number; colour: string }, specific: boolean, withColour: boolean, broad: boolean): string {
  if (!broad) return digitPhrase(rng, s.label, s.colour, specific, withColour);
  if (!specific && rng.next() < 0.15) {
    const body = [...(withColour ? [s.colour] : []), pick(rng, OBJECT_GENERIC)].join(' ');
    return rng.next() < 0.5 ? `the ${body}` : `${article(body)} ${body}`;
  }
  return s.kind === 'digit' ? digitPhrase(rng, s.label, s.colour, specific, withColour) : fashionPhrase(rng, s.label, s.colour, specific, withColour);
}

/** A Fashion-MNIST item: by class ("a red sneaker", "the ankle boot") or by category ("a shoe", "clothing", "a garment"). */
function fashionPhrase(rng: Rng, label: number, colour: string, specific: boolean, withColour: boolean): string {
  const words: string[] = withColour ? [colour] : [];
  let noun: string;
  if (specific) noun = rng.next() < 0.6 ? FASHION_NAMES[label][0] : pick(rng, FASHION_NAMES[label]);
  else noun = FASHION_CATEGORY[label] && rng.next() < 0.35 ? pick(rng, FASHION_CATEGORY[label]) : pick(rng, FASHION_GENERIC);
  words.push(noun);
  const body = words.join(' ');
  // Mass nouns ("clothing", "apparel", "footwear") and plurals ("trousers", "pants") take no "a".
  const mass = /^(clothing|clothes|apparel|footwear|trousers|pants)$/.test(noun);
  const det = rng.int(3);
  if (det === 0) return `the ${body}`;
  if (det === 1 && !mass) return `${article(body)} ${body}`;
  return body;
}

/** A frame phrase: "a frame", "the thin grey border", ... */
function framePhrase(rng: Rng, f: Frame, detail: boolean): string {
  const words: string[] = [];
  if (detail) {
    if (f.width <= 1 && rng.next() < 0.6) words.push(pick(rng, FRAME_WIDTH_WORDS.thin));
    if (f.width >= 3 && rng.next() < 0.6) words.push(pick(rng, FRAME_WIDTH_WORDS.thick));
    if (rng.next() < 0.6) words.push(pick(rng, f.level > 200 ? SHAPE_SHADE.bright : SHAPE_SHADE.dim));
  }
  words.push(pick(rng, FRAME_NOUNS));
  const body = words.join(' ');
  return rng.next() < 0.7 ? `${article(body)} ${body}` : `the ${body}`;
}

/** The caption for the global loss: mostly full descriptions, sometimes one thing alone. */
function caption(rng: Rng, s: Omit<Scene, 'caption' | 'phrases'>, broad: boolean): string {
  const u = rng.next();
  if (u < 0.08) return objectPhrase(rng, s, false, rng.next() < 0.3, broad);
  if (u < 0.15) return objectPhrase(rng, s, true, rng.next() < 0.3, broad);
  if (u < 0.2 && s.distractors.length > 0) return shapePhrase(rng, pick(rng, s.distractors), rng.next() < 0.5);
  if (u < 0.24 && s.frame) return framePhrase(rng, s.frame, rng.next() < 0.5);
  const parts = [objectPhrase(rng, s, rng.next() < 0.85, rng.next() < 0.6, broad)];
  const mentioned = s.distractors.filter(() => rng.next() < 0.7);
  if (mentioned.length > 1 && mentioned.every((d) => d.kind === mentioned[0].kind) && rng.next() < 0.3) {
    parts.push(`${pick(rng, CONNECT)} ${NUMBER_WORDS[mentioned.length - 1]} ${pick(rng, SHAPE_NOUNS[mentioned[0].kind])}s`);
  } else {
    mentioned.forEach((d, i) => parts.push(`${i === 0 ? pick(rng, CONNECT) : 'and'} ${shapePhrase(rng, d, true)}`));
  }
  if (s.frame && rng.next() < 0.7) parts.push(`${pick(rng, FRAME_CONNECT)} ${framePhrase(rng, s.frame, rng.next() < 0.5)}`);
  if (rng.next() < 0.6) parts.push(pick(rng, BACKGROUND_CAPTION[s.background]));
  return parts.join(' ');
}

/**
 * One caption per object class in one grammar form drawn for all: the ten digits ("a handwritten seven",
 * "the number 7", ...), then in the broad corpus the ten Fashion-MNIST classes ("a sneaker", "the coat", ...).
 */
export function classCaptions(rng: Rng, broad = false): string[] {
  const form = rng.int(5);
  const digits = DIGIT_NAMES.map((name, d) => {
    if (form === 0) return `a handwritten ${name}`;
    if (form === 1) return `the number ${d}`;
    if (form === 2) return `${article(name)} ${name}`;
    if (form === 3) return `the digit ${name}`;
    return `${name}`;
  });
  if (!broad) return digits;
  const fform = rng.int(3);
  const items = FASHION_NAMES.map(([name]) => (fform === 0 ? `${article(name)} ${name}` : fform === 1 ? `the ${name}` : name));
  return [...digits, ...items];
}

/** The class index of a scene among classCaptions: digits 0-9, Fashion-MNIST classes 10-19. */
export function classIndex(s: Pick<Scene, 'kind' | 'label'>): number {
  return s.kind === 'fashion' ? FASHION_LABEL_OFFSET + s.label : s.label;
}

/** Every word the grammar can produce, for the vocabulary (the broad corpus's words too when `broad`). */
export function grammarTexts(broad = false): string[] {
  const texts: string[] = [...DIGIT_NAMES, ...DIGIT_GENERIC, ...DIGIT_STYLE, 'a an the digit number', ...CONNECT, ...NUMBER_WORDS];
  for (const c of PALETTE) texts.push(c.name);
  for (const k of Object.keys(BACKGROUND_NAMES) as BackgroundKind[]) texts.push(...BACKGROUND_NAMES[k], ...BACKGROUND_CAPTION[k]);
  for (const k of Object.keys(SHAPE_NOUNS) as (keyof typeof SHAPE_NOUNS)[]) texts.push(...SHAPE_NOUNS[k].map((n) => `${n} ${n}s`));
  texts.push(...SHAPE_SHADE.bright, ...SHAPE_SHADE.dim, ...SIZE_WORDS.small, ...SIZE_WORDS.large);
  for (const k of Object.keys(POSITION)) texts.push(...POSITION[k]);
  if (broad) {
    texts.push(...FASHION_NAMES.flat(), ...FASHION_GENERIC, ...Object.values(FASHION_CATEGORY).flat(), ...OBJECT_GENERIC);
    texts.push(...FRAME_NOUNS, ...FRAME_WIDTH_WORDS.thin, ...FRAME_WIDTH_WORDS.thick, ...FRAME_CONNECT);
  }
  return texts;
}

/**
 * Words the grammar uses only to say where a thing is ("in the top left corner", "near the top edge"), never
 * to name one: the VLM never learned them as a region, so WordNet reading does not read an unknown noun as
 * one of them ("verge" is an edge in WordNet, but "edge" is a place word here). Derived from the grammar.
 */
export function placeWords(): Set<string> {
  const place = new Set(Object.values(POSITION).flatMap((ps) => ps.flatMap(tokenize)));
  const naming = grammarTexts(true).filter((t) => !Object.values(POSITION).some((ps) => ps.includes(t)));
  for (const t of [...naming, ...CONNECT]) for (const w of tokenize(t)) place.delete(w);
  return place;
}

/** Whether scene options ask for the broad corpus (Fashion-MNIST items or frames). */
export function isBroadCorpus(opts: SceneOptions = {}): boolean {
  return (opts.fashionShare ?? 0) > 0 || (opts.frameProbability ?? 0) > 0;
}

export function corpusVocabulary(opts: SceneOptions = {}): Vocabulary {
  return Vocabulary.fromTexts(grammarTexts(isBroadCorpus(opts)), placeWords());
}

export interface SceneOptions {
  /** Probability of each background kind (black, grey, noise). */
  backgroundWeights?: [number, number, number];
  /** Share of scenes whose object is a Fashion-MNIST training item instead of an MNIST digit (0: digits only). */
  fashionShare?: number;
  /** Probability of a frame along the image border (0: never). */
  frameProbability?: number;
}

/** The digit-only corpus of checkpoint v1. */
export const CORPUS_DIGITS: SceneOptions = {};
/** The broad corpus of checkpoint v2: Fashion-MNIST items in 45 % of scenes, frames in 30 %. */
export const CORPUS_BROAD: SceneOptions = { fashionShare: 0.45, frameProbability: 0.3 };

/** The corpora `ltl vlm train --corpus` names. */
export const CORPORA = { digits: CORPUS_DIGITS, broad: CORPUS_BROAD } as const;
/** The corpus of the committed checkpoint (data/vlm), so that `ltl vlm train` without --corpus reproduces it. */
export const DEFAULT_CORPUS: keyof typeof CORPORA = 'broad';

/** Training images a scene's object comes from: MNIST digits, and Fashion-MNIST items for the broad corpus. */
export interface SceneSources { digits: GrayImages; fashion?: GrayImages }

/**
 * Draws one scene from training images only (MNIST, and Fashion-MNIST in the broad corpus) with the given
 * generator. Without fashionShare / frameProbability it draws exactly what the digit corpus drew.
 */
export function makeScene(sources: GrayImages | SceneSources, rng: Rng, opts: SceneOptions = {}): Scene {
  const S = SCENE_SIZE;
  const src: SceneSources = 'digits' in sources ? sources : { digits: sources };
  const broad = isBroadCorpus(opts);
  let kind: ObjectKind = 'digit';
  if ((opts.fashionShare ?? 0) > 0) {
    if (!src.fashion) throw new UserError('the broad VLM corpus needs Fashion-MNIST training images (Debian package dataset-fashion-mnist, or LTL_FASHION_DIR)');
    if (rng.next() < opts.fashionShare!) kind = 'fashion';
  }
  const pool = kind === 'fashion' ? src.fashion! : src.digits;
  if (pool.height !== S || pool.width !== S) throw new Error(`scene images must be ${S}x${S}`);
  const source = rng.int(pool.count);
  const label = pool.labels[source];
  const gray = pool.images.subarray(source * S * S, (source + 1) * S * S);

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

  // Object colour: palette entry with brightness and per-channel jitter, kept visible against the background.
  let col = PALETTE[0], rgb: number[] = [];
  for (let tries = 0; tries < 10; tries++) {
    col = PALETTE[rng.int(PALETTE.length)];
    const b = 0.75 + 0.25 * rng.next();
    rgb = col.rgb.map((c) => clamp255(c * b + (rng.next() - 0.5) * 30));
    if (Math.abs(luminance(rgb) - meanBg) > 50) break;
  }
  // Digits sit in MNIST's central 20x20 box and may shift 3 px; Fashion items fill the image, so 1 px.
  const shift = kind === 'digit' ? 3 : 1;
  const dy = rng.int(2 * shift + 1) - shift, dx = rng.int(2 * shift + 1) - shift;
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

  // Frame (broad corpus): along the border like DecoyMNIST-hard's, but of any width, inset and grey level.
  let frame: Frame | undefined;
  if ((opts.frameProbability ?? 0) > 0 && rng.next() < opts.frameProbability!) {
    const width = 1 + rng.int(4);
    const inset = rng.next() < 0.7 ? 0 : 1 + rng.int(2);
    let level = 15 + rng.int(241);
    for (let tries = 0; tries < 10 && Math.abs(level - meanBg) < 15; tries++) level = 15 + rng.int(241);
    frame = { width, inset, level };
    for (let r = 0; r < S; r++) {
      for (let c = 0; c < S; c++) {
        const ring = Math.min(r, c, S - 1 - r, S - 1 - c);
        if (ring < inset || ring >= inset + width) continue;
        const i = r * S + c;
        image[i * 3] = image[i * 3 + 1] = image[i * 3 + 2] = level;
        category[i] = CAT_FRAME;
      }
    }
  }

  // Distractors: grey shapes at random sizes and places (squares often in a corner, like a decoy patch).
  const distractors: Distractor[] = [];
  const nu = rng.next();
  const n = nu < 0.3 ? 0 : nu < 0.7 ? 1 : nu < 0.9 ? 2 : 3;
  for (let j = 0; j < n; j++) {
    const ku = rng.next();
    const dkind = ku < 0.5 ? 'square' : ku < 0.75 ? 'bar' : 'dot';
    let h: number, w: number;
    if (dkind === 'square') h = w = 4 + rng.int(4);
    else if (dkind === 'bar') {
      const len = 6 + rng.int(9), th = 1 + rng.int(2);
      [h, w] = rng.next() < 0.5 ? [th, len] : [len, th];
    } else h = w = 2 + rng.int(2);
    let row: number, colPos: number;
    if (dkind === 'square' && rng.next() < 0.5) {
      row = rng.int(2) === 0 ? rng.int(2) : S - h - rng.int(2);
      colPos = rng.int(2) === 0 ? rng.int(2) : S - w - rng.int(2);
    } else {
      row = rng.int(S - h + 1);
      colPos = rng.int(S - w + 1);
    }
    // Faint shapes too (DecoyMNIST's test patches go down to 25 on black), but never invisible.
    let level = 15 + rng.int(241);
    for (let tries = 0; tries < 10 && Math.abs(level - meanBg) < 15; tries++) level = 15 + rng.int(241);
    const d: Distractor = { kind: dkind, row, col: colPos, height: h, width: w, level };
    distractors.push(d);
    const cat = dkind === 'square' ? CAT_SQUARE : dkind === 'bar' ? CAT_BAR : CAT_DOT;
    for (let r = row; r < row + h; r++) {
      for (let c = colPos; c < colPos + w; c++) {
        // A 3x3 dot is drawn as a plus, so it is not a small square.
        if (dkind === 'dot' && h === 3 && (r - row - 1) * (c - colPos - 1) !== 0) continue;
        const i = r * S + c;
        image[i * 3] = image[i * 3 + 1] = image[i * 3 + 2] = level;
        category[i] = cat;
      }
    }
  }

  const base = { image, category, label, source, colour: col.name, background, distractors, kind, ...(frame ? { frame } : {}) };
  const first = (k: Distractor['kind']) => distractors.find((d) => d.kind === k);
  const shapeOrGeneric = (k: Distractor['kind']) => {
    const d = first(k);
    return d ? shapePhrase(rng, d, rng.next() < 0.3) : `${rng.next() < 0.5 ? 'a' : 'the'} ${pick(rng, SHAPE_NOUNS[k])}`;
  };
  const phrases: Record<CategoryName, string> = {
    background: pick(rng, BACKGROUND_NAMES[background]),
    digit: objectPhrase(rng, base, rng.next() < 0.35, rng.next() < 0.25, broad),
    square: shapeOrGeneric('square'),
    bar: shapeOrGeneric('bar'),
    dot: shapeOrGeneric('dot'),
    // Without frames in the corpus there is no frame category (and no draw for it).
    frame: (opts.frameProbability ?? 0) > 0 ? (frame ? framePhrase(rng, frame, rng.next() < 0.3) : ((w) => `${rng.next() < 0.5 ? article(w) : 'the'} ${w}`)(pick(rng, FRAME_NOUNS))) : '',
  };
  return { ...base, caption: caption(rng, base, broad), phrases };
}

/** Words of a text that the grammar never produces (for tests and for reporting unknown prompt words). */
export function unknownWords(vocab: Vocabulary, text: string): string[] {
  return tokenize(text).filter((w) => !vocab.has(w));
}
