import { createRng } from '../util/rng';
import { hasFreePixels, redrawRegion } from '../counterfactual/region';
import { recolourImage } from '../counterfactual/recolour';
import type { ColourSource } from '../counterfactual/types';
import { chanceOffsets, translateRegion } from './chance-region';
import type { DiagnosedNet } from './net';

/**
 * Reliance, the causal measure of a diagnosis: how often a net's prediction changes, and how much its accuracy drops,
 * when what a prompt names is varied and nothing else (lib/counterfactual's building blocks):
 *  - a region prompt: its region of each image redrawn from another image of the split (the donor's pixels at the same
 *    places: "the same digit, another frame"), as the language recipe's counterfactuals do;
 *  - an attribute prompt (colour): the image recoloured with a colour the attribute's words span (the colours the VLM
 *    names with them, lib/vlm/embedded/attribute-span.ts), keeping its stroke.
 * Beside it, two controls, each the same kind of variation without what the counterfactual is about:
 *  - chance (lib/diagnose/chance-region.ts): the same number of pixels, in the same shape, at
 *    a random place, redrawn from the same donor: is what the prompt names more fragile than any place of its size?
 *  - same class: the same variation with a value of the image's own class (its region redrawn from another image of
 *    the same label; the attribute set to the colour of such an image): area, shape, place and kind of perturbation
 *    are the counterfactual's, only the label information the new value carries differs. The verdict ranks by the
 *    margin over this control (lib/diagnose/verdict.ts says why).
 * Every draw (donor, shift, colour) is fixed by the seed and the image's position, so prompts are compared on the same
 * donors and shifts, and a seed gives the same numbers.
 */

/** The draws of a diagnosis, per measured image. */
export interface DiagnosisDraws {
  /** donorOf[i]: the image whose pixels image i's redraws take (uniform among the others). */
  donorOf: Int32Array;
  /** sameClassDonorOf[i]: an image of the same label (uniform among the others of its class; i itself when it is
   * alone in its class), for the same-class control. */
  sameClassDonorOf: Int32Array;
  /** [count * 2]: the chance region's cyclic shift (dy, dx). */
  offsets: Int32Array;
}

export function diagnosisDraws(count: number, size: number, seed: number, labels: ArrayLike<number>): DiagnosisDraws {
  const rng = createRng(`diagnose:${seed}:donors`);
  const donorOf = new Int32Array(count);
  for (let i = 0; i < count; i++) donorOf[i] = count > 1 ? (i + 1 + rng.int(count - 1)) % count : i;
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < count; i++) byClass.set(labels[i], [...(byClass.get(labels[i]) ?? []), i]);
  const same = createRng(`diagnose:${seed}:same-class`);
  const sameClassDonorOf = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const c = byClass.get(labels[i])!, at = c.indexOf(i);
    sameClassDonorOf[i] = c.length > 1 ? c[(at + 1 + same.int(c.length - 1)) % c.length] : i;
  }
  return { donorOf, sameClassDonorOf, offsets: chanceOffsets(count, size, createRng(`diagnose:${seed}:chance`)) };
}

/** Per measured image, the colour an attribute prompt recolours it with (drawn in image order from the seed). */
export function diagnosisColours(count: number, colours: ColourSource, seed: number): Array<readonly [number, number, number]> {
  const rng = createRng(`diagnose:${seed}:colours`);
  return Array.from({ length: count }, () => colours(rng));
}

/** The colour of an image (RGB in [0, 1]): its brightest pixel's (largest channel), which recolourImage scales the
 * stroke by; black for an all-black image. */
export function imageColour(images: Float32Array, i: number, size: number): [number, number, number] {
  const hw = size * size, o = i * hw * 3;
  let best = 0, top = -Infinity;
  for (let p = 0; p < hw; p++) {
    const a = o + 3 * p, s = Math.max(images[a], images[a + 1], images[a + 2]);
    if (s > top) { top = s; best = a; }
  }
  return [(images[best] + 1) / 2, (images[best + 1] + 1) / 2, (images[best + 2] + 1) / 2];
}

/** The three variants of the images measureReliance compares with the originals. */
export interface VariedImages {
  /** The prompt's counterfactual. */
  cf: Float32Array;
  /** Its chance twin: the same number of pixels, in the same shape, at a random place, redrawn from the same donor. */
  chance: Float32Array;
  /** The same-class control: the same variation with a value of the image's own class (the region redrawn from an image
   * of the same label; the attribute set to the colour of such an image). */
  sameClass: Float32Array;
}

/**
 * Varies copies of images [start, start + n) in place (each array holds the original images when called). Returns the
 * number of images the counterfactual changed.
 */
export type Counterfactual = (v: VariedImages, start: number, n: number) => number;

/**
 * A region prompt's counterfactual: its region (0/1 [count, S, S]) redrawn from the donor; chance: the shifted region;
 * same class: the region redrawn from the same-class donor. With `keepColour` (attribute prompts are among the
 * candidates), every variant is then recoloured with the image's own colour (imageColour): a redraw would also change
 * the colour of the region's pixels (on ColorMNIST the digit's pixels carry its colour), and candidates are separate
 * explanations, so a region prompt's counterfactual varies what is there (shape, place), not what an attribute prompt
 * names. The only attribute the embedded VLM reads is colour (lib/vlm/embedded/attribute.ts), hence colour.
 */
export function regionCounterfactual(images: Float32Array, size: number, regions: Uint8Array, draws: DiagnosisDraws, o: { keepColour?: boolean } = {}): Counterfactual {
  const hw = size * size, shifted = new Uint8Array(hw);
  return (v, start, n) => {
    let changed = 0;
    for (let k = 0; k < n; k++) {
      const i = start + k, off = i * hw;
      if (!hasFreePixels(regions, off, hw)) continue; // the prompt names nothing here: nothing is redrawn, for chance neither
      changed++;
      redrawRegion(v.cf, k, size, regions, off, images, draws.donorOf[i]);
      redrawRegion(v.sameClass, k, size, regions, off, images, draws.sameClassDonorOf[i]);
      translateRegion(regions, off, size, draws.offsets[2 * i], draws.offsets[2 * i + 1], shifted, 0);
      redrawRegion(v.chance, k, size, shifted, 0, images, draws.donorOf[i]);
      if (o.keepColour) {
        const own = imageColour(images, i, size);
        for (const x of [v.cf, v.sameClass, v.chance]) recolourImage(x, k, size, own);
      }
    }
    return changed;
  };
}

/**
 * An attribute prompt's counterfactual: the image recoloured (lib/counterfactual/recolour.ts) with its drawn colour;
 * chance: the pixels the recolouring changed, shifted, redrawn from the donor; same class: the image recoloured with
 * the colour of the same-class donor (imageColour).
 */
export function attributeCounterfactual(images: Float32Array, size: number, colours: ReadonlyArray<readonly [number, number, number]>, draws: DiagnosisDraws): Counterfactual {
  const hw = size * size, footprint = new Uint8Array(hw), shifted = new Uint8Array(hw);
  return (v, start, n) => {
    let changed = 0;
    for (let k = 0; k < n; k++) {
      const i = start + k, o = k * hw * 3;
      recolourImage(v.cf, k, size, colours[i]);
      recolourImage(v.sameClass, k, size, imageColour(images, draws.sameClassDonorOf[i], size));
      let any = 0;
      for (let p = 0; p < hw; p++) {
        const a = o + 3 * p;
        footprint[p] = v.cf[a] !== v.chance[a] || v.cf[a + 1] !== v.chance[a + 1] || v.cf[a + 2] !== v.chance[a + 2] ? 1 : 0;
        any |= footprint[p];
      }
      if (!any) continue;
      changed++;
      translateRegion(footprint, 0, size, draws.offsets[2 * i], draws.offsets[2 * i + 1], shifted, 0);
      redrawRegion(v.chance, k, size, shifted, 0, images, draws.donorOf[i]);
    }
    return changed;
  };
}

/** What a counterfactual does to a net's predictions. */
export interface RelianceMeasure {
  flipRate: number;
  accuracyDrop: number;
  chanceFlipRate: number;
  chanceAccuracyDrop: number;
  sameClassFlipRate: number;
  sameClassAccuracyDrop: number;
  /** Images the counterfactual changed. */
  changed: number;
  /** The net's predictions on the counterfactual images. */
  after: Int32Array;
}

const CHUNK = 1024;

/**
 * Flip rates and accuracy drops of a counterfactual and its two controls over images [0, count) with labels and the
 * net's predictions on the originals (`before`). Rates are over all measured images: an image the prompt names
 * nothing in is not varied, and counts as unchanged.
 */
export function measureReliance(net: DiagnosedNet, images: Float32Array, labels: ArrayLike<number>, count: number, before: Int32Array, vary: Counterfactual): RelianceMeasure {
  const S = net.inputSize, row = S * S * 3;
  const after = new Int32Array(count);
  const flips = [0, 0, 0], ok = [0, 0, 0];
  let okBefore = 0, changed = 0;
  for (let s = 0; s < count; s += CHUNK) {
    const n = Math.min(CHUNK, count - s);
    const cf = images.slice(s * row, (s + n) * row);
    const v: VariedImages = { cf, chance: cf.slice(), sameClass: cf.slice() };
    changed += vary(v, s, n);
    const preds = [net.predict(v.cf, n), net.predict(v.chance, n), net.predict(v.sameClass, n)];
    for (let k = 0; k < n; k++) {
      const i = s + k, y = labels[i];
      after[i] = preds[0][k];
      if (before[i] === y) okBefore++;
      preds.forEach((p, j) => {
        if (p[k] !== before[i]) flips[j]++;
        if (p[k] === y) ok[j]++;
      });
    }
  }
  const d = Math.max(1, count);
  return {
    flipRate: flips[0] / d, accuracyDrop: (okBefore - ok[0]) / d,
    chanceFlipRate: flips[1] / d, chanceAccuracyDrop: (okBefore - ok[1]) / d,
    sameClassFlipRate: flips[2] / d, sameClassAccuracyDrop: (okBefore - ok[2]) / d,
    changed, after,
  };
}

/** The counterfactual of one image (for the figure): image i varied as measureReliance varies it. */
export function counterfactualOf(images: Float32Array, size: number, i: number, vary: Counterfactual): Float32Array {
  const row = size * size * 3;
  const cf = images.slice(i * row, (i + 1) * row);
  vary({ cf, chance: cf.slice(), sameClass: cf.slice() }, i, 1);
  return cf;
}
