import type { MapBatch } from '../maps/types';
import { promptRegions, type MaskSettings } from '../train/prompt-constraint';

/**
 * A region prompt's region on each image, for diagnosis: where the VLM's map says the prompt is, on the model's input
 * grid. The rule (DIAGNOSIS_MASKS) is the same for every candidate, since a candidate has no role:
 *  - threshold 0.5: the embedded VLM's map is, per patch, the prompt's softmax share against the background prompts,
 *    so map > 0.5 is "the prompt is likelier here than all the background together". Why not a share of the map's
 *    mass (as the language recipe's counterfactuals use): a mass region is never empty, so it could not say that a
 *    prompt names nothing in an image (on decoymnist-hard the maps of "a square" peak at 0.07 on average, yet 99 % of
 *    their mass still covers 8 % of the image); and for a flat map it covers nearly everything;
 *  - dilated by 1 pixel of the map's grid: the object's anti-aliased rim goes with it, so a redraw leaves no trace of
 *    it (the smallest dilation, that of the training defaults' negative regions);
 *  - moved to the input grid where any touched pixel counts (promptRegions, as training's masks are).
 */
export const DIAGNOSIS_MASKS: MaskSettings = { threshold: 0.5, mass: null, radius: 1 };

/** A prompt found in fewer than this share of the images has an empty map: no verdict. */
export const MIN_FOUND_SHARE = 0.5;
/** A region covering more than this share of the image (mean over images) says nothing about where: no verdict. */
export const MAX_AREA_SHARE = 0.9;

/** 0/1 regions [count, size, size] of maps (DIAGNOSIS_MASKS unless told). */
export function diagnosisRegions(maps: MapBatch, size: number, settings: MaskSettings = DIAGNOSIS_MASKS): Uint8Array {
  const r = promptRegions(maps, settings, size);
  const out = new Uint8Array(r.length);
  for (let i = 0; i < r.length; i++) out[i] = r[i] > 0 ? 1 : 0;
  return out;
}

/** How much of the images a prompt's regions cover. */
export interface RegionCoverage {
  images: number;
  /** Images whose region is not empty. */
  found: number;
  /** Mean over images of the region's share of the image (empty regions count 0). */
  area: number;
}

export function regionCoverage(regions: Uint8Array, count: number, hw: number): RegionCoverage {
  let found = 0, sum = 0;
  for (let i = 0; i < count; i++) {
    let a = 0;
    for (let p = 0; p < hw; p++) a += regions[i * hw + p];
    if (a > 0) found++;
    sum += a / hw;
  }
  return { images: count, found, area: count ? sum / count : 0 };
}

/** Why a region prompt gets no verdict (its map empty on most images, or its region the whole image), else null. */
export function regionProblem(prompt: string, c: RegionCoverage): string | null {
  if (c.images === 0) return `${JSON.stringify(prompt)}: no images were measured`;
  if (c.found < MIN_FOUND_SHARE * c.images) {
    return `the map of ${JSON.stringify(prompt)} is empty on ${c.images - c.found} of ${c.images} images (the VLM does not find it there): no verdict on it`;
  }
  if (c.area > MAX_AREA_SHARE) {
    return `the region of ${JSON.stringify(prompt)} covers ${(100 * c.area).toFixed(1)} % of the image on average: it says nothing about where, no verdict on it`;
  }
  return null;
}

/** Why an attribute prompt gets no verdict: its directions cover (nearly) every input direction, else null. */
export function attributeProblem(prompt: string, chance: number): string | null {
  if (chance > MAX_AREA_SHARE) {
    return `the input directions of ${JSON.stringify(prompt)} hold ${(100 * chance).toFixed(1)} % of an isotropic gradient: they say nothing about which directions, no verdict on it`;
  }
  return null;
}
