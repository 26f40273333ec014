import type { DiagnosedNet } from './net';
import { attributions, DEFAULT_ATTRIBUTION, type AttributionName } from './attribution';

/**
 * Where a net's input-gradient energy is, per image: what the attention measure of a diagnosis reads. For image i with
 * input gradient g (lib/diagnose/net.ts; or another attribution, lib/diagnose/attribution.ts) and pixel p:
 *  - region share      s_i = sum_{p in R_i} |g_p|^2 / sum_p |g_p|^2,   chance c_i = |R_i| / S^2 (the region's share of
 *    the image: what a gradient spread evenly over the image would put there);
 *  - attribute share   s_i = sum_p g_p^T C g_p / sum_p |g_p|^2 = tr(C G_i) / tr(G_i) with G_i = sum_p g_p g_p^T, and
 *    chance tr(C) / 3 (the mean of u^T C u over unit directions u: a gradient with no preferred colour direction).
 * Both are means over images (every image counts alike, as training's excluded share does), over the images with any
 * gradient energy (an image with g = 0 says nothing about where the net looks); lift = share / chance.
 */
export interface GradientEnergy {
  count: number;
  size: number;
  /** [count, S, S]: |g_p|^2. */
  energy: Float32Array;
  /** [count, 9]: G_i = sum_p g_p g_p^T, row-major (float64 sums). */
  moment: Float64Array;
}

/** Images per gradient call (the gradients are reduced to energies chunk by chunk; a whole split's raw gradients would be 12 KiB per image). */
const CHUNK = 512;

/**
 * The energy of a net's attributions of each image (the input gradient unless `attribution` says otherwise,
 * lib/diagnose/attribution.ts; `predicted`, the net's class per image, for the attributions of the predicted class).
 */
export function gradientEnergy(net: DiagnosedNet, images: Float32Array, count: number, attribution: AttributionName = DEFAULT_ATTRIBUTION, predicted?: ArrayLike<number>): GradientEnergy {
  const S = net.inputSize, hw = S * S, row = hw * 3;
  const energy = new Float32Array(count * hw), moment = new Float64Array(count * 9);
  for (let s = 0; s < count; s += CHUNK) {
    const n = Math.min(CHUNK, count - s);
    const classes = predicted ? Array.prototype.slice.call(predicted, s, s + n) as number[] : undefined;
    const g = attributions(net, attribution, images.subarray(s * row, (s + n) * row), n, classes);
    for (let k = 0; k < n; k++) {
      const i = s + k, m = moment.subarray(i * 9, i * 9 + 9);
      for (let p = 0; p < hw; p++) {
        const a = k * row + 3 * p, r = g[a], gg = g[a + 1], b = g[a + 2];
        energy[i * hw + p] = r * r + gg * gg + b * b;
        m[0] += r * r; m[1] += r * gg; m[2] += r * b;
        m[4] += gg * gg; m[5] += gg * b; m[8] += b * b;
      }
      m[3] = m[1]; m[6] = m[2]; m[7] = m[5];
    }
  }
  return { count, size: S, energy, moment };
}

/** A share of gradient energy and its chance level (means over the images with gradient energy). */
export interface AttentionShare {
  /** null when no image has any gradient energy. */
  share: number | null;
  chance: number;
  /** Images the means are over. */
  images: number;
}

/** Share of each image's gradient energy inside its region (0/1 [count, S, S]), and the region's share of the image. */
export function regionAttention(e: GradientEnergy, regions: Uint8Array): AttentionShare {
  const hw = e.size * e.size;
  let share = 0, chance = 0, n = 0, areaAll = 0;
  for (let i = 0; i < e.count; i++) {
    let tot = 0, inside = 0, area = 0;
    for (let p = 0; p < hw; p++) {
      const v = e.energy[i * hw + p];
      tot += v;
      if (regions[i * hw + p]) { inside += v; area++; }
    }
    areaAll += area / hw;
    if (!(tot > 0)) continue;
    share += inside / tot; chance += area / hw; n++;
  }
  if (n === 0) return { share: null, chance: e.count ? areaAll / e.count : 0, images: 0 };
  return { share: share / n, chance: chance / n, images: n };
}

/** Share of each image's gradient energy along the attribute's directions C (3x3, symmetric), and tr(C) / 3. */
export function attributeAttention(e: GradientEnergy, c: readonly number[]): AttentionShare {
  const chance = (c[0] + c[4] + c[8]) / 3;
  let share = 0, n = 0;
  for (let i = 0; i < e.count; i++) {
    const m = e.moment.subarray(i * 9, i * 9 + 9);
    const tot = m[0] + m[4] + m[8];
    if (!(tot > 0)) continue;
    let along = 0;
    for (let k = 0; k < 9; k++) along += c[k] * m[k]; // tr(C G) for symmetric C and G
    share += along / tot; n++;
  }
  return { share: n ? share / n : null, chance, images: n };
}

/** share / chance, or null when it is not defined. */
export function lift(a: Pick<AttentionShare, 'share' | 'chance'>): number | null {
  return a.share !== null && a.chance > 0 ? a.share / a.chance : null;
}

/** Per pixel g_p^T C g_p of one image's gradient [S, S, 3] (the figure's map of an attribute prompt). */
export function attributeEnergyMap(g: Float32Array, offset: number, hw: number, c: readonly number[]): Float32Array {
  const out = new Float32Array(hw);
  for (let p = 0; p < hw; p++) {
    const a = offset + 3 * p, v = [g[a], g[a + 1], g[a + 2]];
    let q = 0;
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) q += v[i] * c[i * 3 + j] * v[j];
    out[p] = Math.max(0, q);
  }
  return out;
}
