import type { ImageSplit } from '../data/types';
import type { MapBatch } from '../maps/types';
import { UserError } from '../util/errors';
import { dilateMask } from '../maps/morphology';
import { splitIndices } from '../data/subset';

export interface QualityOptions {
  /** Split indices of the maps, in batch order (default 0..count-1). */
  indices?: ArrayLike<number>;
  /** Square (Chebyshev) dilation radius of the digit mask for the mass share; default 2 px (a 5x5 square). */
  dilate?: number;
  /** Threshold on map values for IoU; default 0.5. */
  threshold?: number;
}

export interface MapQuality {
  count: number;
  /** Mean over images of (map mass on the digit mask dilated by `dilate`) / (total map mass). */
  digitMass: number;
  /** Mean over images of the mass share on the decoy patch; null for splits without shortcut masks. */
  decoyMass: number | null;
  /** Mean over images of IoU(map >= threshold, pixel-exact digit mask). Empty union counts as 0. */
  iou: number;
  /** Reference: the digitMass a uniform map would get (mean area share of the dilated digit). */
  uniformDigitMass: number;
  /** Reference: the decoyMass a uniform map would get; null without shortcut masks. */
  uniformDecoyMass: number | null;
  /** Maps whose total mass is 0: they contribute 0 to both mass shares. */
  emptyMaps: number;
  dilate: number;
  threshold: number;
}

/**
 * Map quality against the pixel-exact masks of a split: where does a map put its mass? A map
 * that looks at the digit scores digitMass near 1 and decoyMass near 0; compare with the uniform
 * reference values, which a map with no spatial information gets.
 */
export function mapQuality(maps: MapBatch, split: ImageSplit, opts: QualityOptions = {}): MapQuality {
  const { height: h, width: w } = split;
  if (maps.height !== h || maps.width !== w) {
    throw new UserError(`map of the wrong shape: maps are ${maps.height}x${maps.width}, the ${split.split} images are ${h}x${w}`);
  }
  const r = opts.dilate ?? 2;
  const thr = opts.threshold ?? 0.5;
  if (!(Number.isInteger(r) && r >= 0)) throw new UserError(`dilation radius must be a non-negative integer, not ${opts.dilate}`);
  const hw = h * w;
  const n = maps.count;
  if (opts.indices && opts.indices.length !== n) throw new UserError(`${opts.indices.length} indices for ${n} maps`);
  const indices = splitIndices(split, opts.indices ?? Array.from({ length: n }, (_, k) => k), 'map index');
  const dil = new Uint8Array(hw), tmp = new Uint8Array(hw);
  let sDigit = 0, sDecoy = 0, sIou = 0, sUD = 0, sUP = 0, empty = 0;
  const decoy = split.shortcutMasks;
  for (let k = 0; k < n; k++) {
    const i = indices[k];
    const m = maps.data.subarray(k * hw, (k + 1) * hw);
    const digit = split.digitMasks.subarray(i * hw, (i + 1) * hw);
    dilateMask(digit, h, w, r, dil, tmp);
    const patch = decoy?.subarray(i * hw, (i + 1) * hw);
    let tot = 0, onD = 0, onP = 0, inter = 0, uni = 0, areaD = 0, areaP = 0;
    for (let p = 0; p < hw; p++) {
      const v = m[p] > 0 ? m[p] : 0; // negative values carry no mass
      tot += v;
      if (dil[p]) { onD += v; areaD++; }
      if (patch && patch[p]) { onP += v; areaP++; }
      const on = m[p] >= thr;
      if (on && digit[p]) inter++;
      if (on || digit[p]) uni++;
    }
    if (tot > 0) { sDigit += onD / tot; sDecoy += onP / tot; } else empty++;
    sIou += uni > 0 ? inter / uni : 0;
    sUD += areaD / hw;
    sUP += areaP / hw;
  }
  const mean = (s: number) => (n > 0 ? s / n : NaN);
  return {
    count: n, digitMass: mean(sDigit), decoyMass: decoy ? mean(sDecoy) : null, iou: mean(sIou),
    uniformDigitMass: mean(sUD), uniformDecoyMass: decoy ? mean(sUP) : null, emptyMaps: empty, dilate: r, threshold: thr,
  };
}
