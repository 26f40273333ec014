import type { Rng } from '../util/rng';
import { createRng } from '../util/rng';
import { redrawRegion } from './region';
import { recolourImage } from './recolour';
import type { CounterfactualPlan, Donors } from './types';

/**
 * Varies images of a batch in place as the plan says: each image is varied with probability `share` (its region
 * redrawn from its donor, then recoloured); the others are left bit for bit. `rows` are the batch's rows in the
 * split the plan's regions belong to (and the donors' rows too). The draws come from `rng` in a fixed order (one per
 * image for the share, then the colour's), so a seed fixes the result. `swap`: redraw only pixels free in both the
 * image and its donor (a background swap: counterfactual validation, and training with --augment-redraw background).
 */
export function applyCounterfactual(plan: CounterfactualPlan, images: Float32Array, rows: ArrayLike<number>, n: number, donors: Donors, share: number, rng: Rng, swap = false): void {
  const hw = plan.size * plan.size;
  for (let k = 0; k < n; k++) {
    const on = rng.next() < share;
    const colour = plan.colours ? plan.colours(rng) : undefined;
    if (!on) continue;
    // an empty region redraws nothing: the image keeps its pixels
    if (plan.regions) redrawRegion(images, k, plan.size, plan.regions, rows[k] * hw, donors.images, donors.donorOf[k], swap ? donors.donorOf[k] * hw : undefined);
    if (colour) recolourImage(images, k, plan.size, colour);
  }
}

/**
 * A training batch's donors: for each image, another image of the same batch (uniform among the others; an image
 * alone in its batch is its own donor, so its region is unchanged), read from the split's unvaried images (`split`,
 * rows `rows`), so a donor's pixels are its own whatever was redrawn before, and nothing is copied.
 */
export function batchDonors(split: Float32Array, rows: ArrayLike<number>, n: number, rng: Rng): Donors {
  const donorOf = new Int32Array(n);
  for (let k = 0; k < n; k++) donorOf[k] = rows[n > 1 ? (k + 1 + rng.int(n - 1)) % n : k];
  return { images: split, donorOf };
}

/** The seed of counterfactual validation: the same for every run, so runs on a dataset are compared on one set of images. */
export const VAL_CF_SEED = 'val-cf:2';

/**
 * Counterfactual validation images (the --select val-cf measure): every validation image varied once (share 1): where
 * it and another validation image are both free, it takes that image's pixels (a background swap: the shortcut's
 * pixels change, no piece of another object comes in), and it is recoloured; fixed draws (VAL_CF_SEED), independent of
 * the run's seed. Reads validation images only.
 */
export function counterfactualSplit(plan: CounterfactualPlan, images: Float32Array, count: number): Float32Array {
  const rng = createRng(VAL_CF_SEED);
  const rows = Int32Array.from({ length: count }, (_, i) => i);
  const out = new Float32Array(images.subarray(0, count * plan.size * plan.size * 3));
  applyCounterfactual(plan, out, rows, count, batchDonors(images, rows, count, rng), 1, rng, true);
  return out;
}
