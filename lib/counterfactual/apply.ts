import type { Rng } from '../util/rng';
import { createRng } from '../util/rng';
import { hasFreePixels, redrawRegion } from './region';
import { recolourImage } from './recolour';
import type { CounterfactualPlan, Donors } from './types';

/**
 * Varies images of a batch in place as the plan says: each image is varied with probability `share` (its region
 * redrawn from its donor, then recoloured); the others are left bit for bit. `rows` are the batch's rows in the
 * split the plan's regions belong to. The draws come from `rng` in a fixed order (one per image for the share, then
 * the colour's), so a seed fixes the result.
 */
export function applyCounterfactual(plan: CounterfactualPlan, images: Float32Array, rows: ArrayLike<number>, n: number, donors: Donors, share: number, rng: Rng): number {
  const hw = plan.size * plan.size;
  let varied = 0;
  for (let k = 0; k < n; k++) {
    const on = rng.next() < share;
    const colour = plan.colours ? plan.colours(rng) : undefined;
    if (!on) continue;
    let changed = false;
    if (plan.regions) {
      const off = rows[k] * hw;
      if (hasFreePixels(plan.regions, off, hw)) {
        redrawRegion(images, k, plan.size, plan.regions, off, donors.images, donors.donorOf[k]);
        changed = true;
      }
    }
    if (colour) {
      recolourImage(images, k, plan.size, colour);
      changed = true;
    }
    if (changed) varied++;
  }
  return varied;
}

/**
 * A training batch's donors: another image of the same batch for each image (uniform among the others; an image
 * alone in its batch is its own donor, so its region is unchanged). The batch is copied first, so every image takes
 * its donor's pixels as they were before any redraw.
 */
export function batchDonors(images: Float32Array, n: number, size: number, rng: Rng): Donors {
  const row = size * size * 3;
  const donorOf = new Int32Array(n);
  for (let k = 0; k < n; k++) donorOf[k] = n > 1 ? (k + 1 + rng.int(n - 1)) % n : k;
  return { images: images.slice(0, n * row), donorOf };
}

/** The seed of counterfactual validation: the same for every run, so runs on a dataset are compared on one set of images. */
export const VAL_CF_SEED = 'val-cf:1';

/**
 * Counterfactual validation images (the --select val-cf measure): every validation image varied once (share 1), its
 * region redrawn from another validation image; fixed draws (VAL_CF_SEED), independent of the run's seed. Reads
 * validation images only.
 */
export function counterfactualSplit(plan: CounterfactualPlan, images: Float32Array, count: number): Float32Array {
  const rng = createRng(VAL_CF_SEED);
  const donorOf = new Int32Array(count);
  for (let k = 0; k < count; k++) donorOf[k] = count > 1 ? (k + 1 + rng.int(count - 1)) % count : k;
  const out = images.slice(0, count * plan.size * plan.size * 3);
  const rows = Int32Array.from({ length: count }, (_, i) => i);
  applyCounterfactual(plan, out, rows, count, { images, donorOf }, 1, rng);
  return out;
}
