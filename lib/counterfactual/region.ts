/**
 * Redraws an image's free region (CounterfactualPlan.regions) from another image's pixels at the same places. The
 * kept pixels are copied through untouched (bit for bit); the redrawn ones are the donor's, bit for bit. Why another
 * image, not noise: the redrawn pixels then carry whatever the data's shortcut looks like, with a value that no longer
 * goes with the label, which is exactly the counterfactual "the same digit, another frame". With `donorFreeOffset`
 * (the donor's own region in the same `free` array) only pixels free in both images are redrawn: a background swap,
 * which brings none of the donor's object along (counterfactual validation asks only "does the prediction survive
 * another background", not "another background with pieces of another digit in it").
 */
export function redrawRegion(images: Float32Array, k: number, size: number, free: Uint8Array, freeOffset: number, donor: Float32Array, donorRow: number, donorFreeOffset?: number): void {
  const hw = size * size;
  const dst = k * hw * 3, src = donorRow * hw * 3;
  for (let p = 0; p < hw; p++) {
    if (free[freeOffset + p] === 0) continue;
    // (background swap) only where the donor's pixel is free too: no part of the donor's object comes along
    if (donorFreeOffset !== undefined && free[donorFreeOffset + p] === 0) continue;
    const a = dst + 3 * p, b = src + 3 * p;
    images[a] = donor[b];
    images[a + 1] = donor[b + 1];
    images[a + 2] = donor[b + 2];
  }
}

/** Whether an image's free region has any pixel (an empty region keeps the image as it is). */
export function hasFreePixels(free: Uint8Array, offset: number, hw: number): boolean {
  for (let p = 0; p < hw; p++) if (free[offset + p] !== 0) return true;
  return false;
}
