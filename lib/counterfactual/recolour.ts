/**
 * Recolours an image: every pixel becomes its stroke intensity times one colour c,
 *     y_p = (s_p / max_q s_q) * c,   s_p = max over channels of the pixel (in [0, 1]),
 * so what the image shows (where and how strongly it is drawn, relative to its brightest pixel) is kept and its colour
 * - hue, saturation and lightness, since "colour" in words includes how light a colour is - is replaced. Why lightness
 * too: a recolouring that keeps each pixel's brightness leaves whatever brightness says about the label (ColorMNIST's
 * palette codes the label in brightness as well as hue). Black stays black; an all-black image is left as it is.
 * Works on the models' input scale ([-1, 1], x = 2 v - 1): y = (x_max + 1) * k - 1 per channel with k = 2 c / (x_top + 1),
 * in float32 arithmetic (the reference of the WebAssembly batch step, wasm/counterfactual.c, which runs it on every
 * training image of every step four pixels at a time).
 */
export function recolourImage(images: Float32Array, k: number, size: number, colour: readonly [number, number, number]): void {
  const f = Math.fround;
  const start = k * size * size * 3, end = start + size * size * 3;
  let top = -1;
  for (let a = start; a < end; a += 3) {
    const r = images[a], g = images[a + 1], b = images[a + 2];
    const m = r > g ? (r > b ? r : b) : (g > b ? g : b);
    if (m > top) top = m;
  }
  // float32 arithmetic throughout (one Math.fround per operation), as the WebAssembly batch step computes it
  const h = f(top + 1); // 2 v_top
  if (!(h > 0)) return;
  const k0 = f(f(2 * colour[0]) / h), k1 = f(f(2 * colour[1]) / h), k2 = f(f(2 * colour[2]) / h);
  for (let a = start; a < end; a += 3) {
    const r = images[a], g = images[a + 1], b = images[a + 2];
    const s = f((r > g ? (r > b ? r : b) : (g > b ? g : b)) + 1); // 2 v: the stroke's value, doubled
    images[a] = f(s * k0) - 1;
    images[a + 1] = f(s * k1) - 1;
    images[a + 2] = f(s * k2) - 1;
  }
}

/** The stroke profile recolourImage keeps: per pixel, its largest channel over the image's largest, in [0, 1]. */
export function strokeProfile(images: Float32Array, k: number, size: number): Float32Array {
  const hw = size * size, o = k * hw * 3;
  const out = new Float32Array(hw);
  let top = 0;
  for (let p = 0; p < hw; p++) {
    const a = o + 3 * p;
    out[p] = (Math.max(images[a], images[a + 1], images[a + 2]) + 1) / 2;
    if (out[p] > top) top = out[p];
  }
  if (top > 0) for (let p = 0; p < hw; p++) out[p] /= top;
  return out;
}
