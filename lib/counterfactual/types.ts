import type { Rng } from '../util/rng';

/**
 * Counterfactual images: an image varied exactly where the prompts say nothing may matter, everything else kept.
 * Two kinds of variation, both read only from what the prompts name:
 *  - a region (off the positive prompt's region, on a negative prompt's): its pixels are redrawn from another image;
 *  - an attribute (colour): the image is recoloured with a colour drawn from what the attribute's words span.
 *
 * Layout: images as the models read them (lib/train/data.ts), [n, S, S, 3] float32 in [-1, 1], row-major.
 */

/** Draws one colour, RGB in [0, 1]. */
export type ColourSource = (rng: Rng) => readonly [number, number, number];

/** What a counterfactual varies in each image it touches. */
export interface CounterfactualPlan {
  /** Side of the square images (S). */
  size: number;
  /**
   * Per image of the split, 1 where a pixel may be redrawn ([count, S, S]); an image whose region is all 0 keeps its
   * pixels. Absent: no region is redrawn.
   */
  regions?: Uint8Array;
  /** Draws the colour an image is recoloured with. Absent: colours are kept. */
  colours?: ColourSource;
}

/** Where redrawn pixels come from: images of the same layout and, for each image varied, the donor's row. */
export interface Donors {
  images: Float32Array;
  /** donorOf[k]: the row of `images` that image k of the batch takes its redrawn pixels from. */
  donorOf: Int32Array;
}
