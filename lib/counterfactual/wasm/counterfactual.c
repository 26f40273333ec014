// Counterfactual augmentation's batch step (lib/counterfactual/kernel.ts), in WebAssembly: it gathers a batch of
// prepared images [n, hw, 3] (float32, the models' [-1, 1] scale) from a split held in this module's memory, redraws
// each varied image's free region from its donor and recolours it. A step of the fused engine takes ~2 ms for 32
// images; the same work in TypeScript took a quarter to half of that, here it is a few per cent.
//
// Same arithmetic as the TypeScript reference (lib/counterfactual/region.ts, recolour.ts), so the two agree bit for
// bit: the redraw copies floats; the recolour is float32 arithmetic, which the reference does with Math.fround after
// each operation (a double result of one +, *, / of float32 operands rounds to the float32 result exactly). Built
// without -ffast-math for that reason (scripts/build-wasm.sh); wasm has no fused multiply-add to contract into.
#include <stdint.h>
#include <wasm_simd128.h>

extern unsigned char __heap_base;

/** First free byte above the stack and static data: where the TypeScript side lays out its buffers. */
__attribute__((export_name("heap_base"))) uint32_t heap_base(void) { return (uint32_t)(uintptr_t)&__heap_base; }

/** The largest of three channels, without branches (wasm's f32.max: data-dependent branches on stroke pixels mispredict).
 * Exact, as the TypeScript reference's comparisons are; inputs are never NaN. */
static inline float max3(float r, float g, float b) { return __builtin_wasm_max_f32(__builtin_wasm_max_f32(r, g), b); }

/** The largest of the four lanes (exact). */
static inline float lanes_max(v128_t v) {
  return __builtin_wasm_max_f32(max3(wasm_f32x4_extract_lane(v, 0), wasm_f32x4_extract_lane(v, 1), wasm_f32x4_extract_lane(v, 2)), wasm_f32x4_extract_lane(v, 3));
}

/** The largest channel of 4 interleaved RGB pixels (3 vectors: r0 g0 b0 r1 | g1 b1 r2 g2 | b2 r3 g3 b3), as 4 lanes. */
static inline v128_t pixel_max(v128_t a, v128_t b, v128_t c) {
  v128_t r = wasm_i32x4_shuffle(wasm_i32x4_shuffle(a, b, 0, 3, 6, 6), c, 0, 1, 2, 5);
  v128_t g = wasm_i32x4_shuffle(wasm_i32x4_shuffle(a, b, 1, 4, 7, 7), c, 0, 1, 2, 6);
  v128_t bl = wasm_i32x4_shuffle(wasm_i32x4_shuffle(a, b, 2, 5, 5, 5), c, 0, 1, 4, 7);
  return wasm_f32x4_max(wasm_f32x4_max(r, g), bl);
}

/** Per pixel of the image being made, its largest channel (copy_redraw_top writes it, recolour reads it). */
#define MAX_PIXELS 4096
static float stroke[MAX_PIXELS];

/**
 * One image into dst in one pass, four pixels a step: src's pixels, with redrawRegion's copy where the mask allows
 * (lib/counterfactual/region.ts: pixel p takes the donor's RGB where free[p] and donorFree[p]; pass free twice for no
 * swap; no donor: a plain copy), and the largest channel of the result over the image (the recolour's top; -1 for
 * none above it) with each pixel's largest channel in `stroke` (wantTop; else -1 and `stroke` untouched).
 */
static float copy_redraw_top(float *dst, const float *src, const float *donor, const uint8_t *free, const uint8_t *donorFree, int hw, int wantTop) {
  const v128_t zero = wasm_i32x4_splat(0);
  v128_t top4 = wasm_f32x4_splat(-1.0f);
  for (int p = 0; p < hw; p += 4) {
    const float *s = src + 3 * p;
    float *q = dst + 3 * p;
    v128_t a = wasm_v128_load(s), b = wasm_v128_load(s + 4), c = wasm_v128_load(s + 8);
    uint32_t f4 = donor ? (*(const uint32_t *)(free + p) & *(const uint32_t *)(donorFree + p)) : 0;
    if (f4 != 0) {
      // 4 mask bytes -> 4 i32 lanes, all ones where the byte is not 0, widened to the 3 lanes of each pixel
      v128_t m = wasm_i32x4_ne(wasm_u32x4_extend_low_u16x8(wasm_u16x8_extend_low_u8x16(wasm_i32x4_splat((int32_t)f4))), zero);
      const float *e = donor + 3 * p;
      a = wasm_v128_bitselect(wasm_v128_load(e), a, wasm_i32x4_shuffle(m, m, 0, 0, 0, 1));
      b = wasm_v128_bitselect(wasm_v128_load(e + 4), b, wasm_i32x4_shuffle(m, m, 1, 1, 2, 2));
      c = wasm_v128_bitselect(wasm_v128_load(e + 8), c, wasm_i32x4_shuffle(m, m, 2, 3, 3, 3));
    }
    wasm_v128_store(q, a);
    wasm_v128_store(q + 4, b);
    wasm_v128_store(q + 8, c);
    if (wantTop) {
      v128_t m = pixel_max(a, b, c);
      wasm_v128_store(stroke + p, m);
      top4 = wasm_f32x4_max(top4, m);
    }
  }
  return lanes_max(top4);
}

/**
 * recolourImage's arithmetic (lib/counterfactual/recolour.ts) on one image whose largest channel is `top` and whose
 * pixels' largest channels are in `stroke`, four pixels a step: y = (m + 1) * k - 1 per channel with m the pixel's
 * largest channel and k = 2 c / (top + 1), written interleaved.
 */
static void recolour(float *x, int hw, float top, const double *colour) {
  float h = top + 1.0f;
  if (!(h > 0.0f)) return;
  float k0 = (float)(2.0 * colour[0]) / h, k1 = (float)(2.0 * colour[1]) / h, k2 = (float)(2.0 * colour[2]) / h;
  // the colour's 3 channels along 12 floats (4 pixels) as 3 vectors
  const v128_t K0 = wasm_f32x4_make(k0, k1, k2, k0), K1 = wasm_f32x4_make(k1, k2, k0, k1), K2 = wasm_f32x4_make(k2, k0, k1, k2);
  const v128_t one = wasm_f32x4_splat(1.0f);
  for (int p = 0; p < hw; p += 4) {
    float *q = x + 3 * p;
    v128_t s = wasm_f32x4_add(wasm_v128_load(stroke + p), one); // s0 s1 s2 s3: the pixels' largest channels, + 1
    wasm_v128_store(q, wasm_f32x4_sub(wasm_f32x4_mul(wasm_i32x4_shuffle(s, s, 0, 0, 0, 1), K0), one));
    wasm_v128_store(q + 4, wasm_f32x4_sub(wasm_f32x4_mul(wasm_i32x4_shuffle(s, s, 1, 1, 2, 2), K1), one));
    wasm_v128_store(q + 8, wasm_f32x4_sub(wasm_f32x4_mul(wasm_i32x4_shuffle(s, s, 2, 3, 3, 3), K2), one));
  }
}

#define FLAG_REGIONS 1
#define FLAG_COLOURS 2
#define FLAG_SWAP 4

/**
 * n images: image k is row rows[k] of `split` (row = hw * 3 floats); when on[k], its pixels p with
 * regions[rows[k] * hw + p] != 0 are replaced by row donors[k]'s (FLAG_REGIONS; with FLAG_SWAP only where the donor's
 * own region is free there too: a background swap), then it is recoloured with colours[3k..3k+2] (FLAG_COLOURS).
 * Results go to out [n, hw, 3].
 */
__attribute__((export_name("cf_batch")))
void cf_batch(int n, int hw, const float *split, const uint8_t *regions, const int32_t *rows, const int32_t *donors,
              const uint8_t *on, const double *colours, int flags, float *out) {
  const int row = hw * 3;
  for (int k = 0; k < n; k++) {
    const float *src = split + (uint32_t)rows[k] * (uint32_t)row;
    float *dst = out + (uint32_t)k * (uint32_t)row;
    if (!on[k] || !(flags & (FLAG_REGIONS | FLAG_COLOURS))) {
      __builtin_memcpy(dst, src, (uint32_t)row * sizeof(float));
      continue;
    }
    const uint8_t *fr = regions + (uint32_t)rows[k] * (uint32_t)hw;
    const uint8_t *dr = (flags & FLAG_SWAP) ? regions + (uint32_t)donors[k] * (uint32_t)hw : fr;
    const float *donor = (flags & FLAG_REGIONS) ? split + (uint32_t)donors[k] * (uint32_t)row : 0;
    float top = copy_redraw_top(dst, src, donor, fr, dr, hw, flags & FLAG_COLOURS);
    if (flags & FLAG_COLOURS) recolour(dst, hw, top, colours + 3 * k);
  }
}
