// Counterfactual augmentation's batch step (lib/counterfactual/kernel.ts), in WebAssembly: it gathers a batch of
// prepared images [n, hw, 3] (float32, the models' [-1, 1] scale) from a split held in this module's memory, redraws
// each varied image's free region from its donor and recolours it. A step of the fused engine takes ~2 ms for 32
// images; the same work in TypeScript took a quarter to half of that, here it is a few per cent.
//
// Same arithmetic as the TypeScript reference (lib/counterfactual/region.ts, recolour.ts), so the two agree bit for
// bit: the redraw copies floats; the recolour computes in double precision, in the same order, as JavaScript does,
// and rounds to float32 on store. Built without -ffast-math for that reason (scripts/build-wasm.sh).
#include <stdint.h>

extern unsigned char __heap_base;

/** First free byte above the stack and static data: where the TypeScript side lays out its buffers. */
__attribute__((export_name("heap_base"))) uint32_t heap_base(void) { return (uint32_t)(uintptr_t)&__heap_base; }

/** The largest of three channels, without branches (wasm's f32.max: data-dependent branches on stroke pixels mispredict).
 * Exact, as the TypeScript reference's comparisons are; inputs are never NaN. */
static inline float max3(float r, float g, float b) { return __builtin_wasm_max_f32(__builtin_wasm_max_f32(r, g), b); }

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
    __builtin_memcpy(dst, src, (uint32_t)row * sizeof(float));
    if (!on[k]) continue;
    if (flags & FLAG_REGIONS) {
      const uint8_t *fr = regions + (uint32_t)rows[k] * (uint32_t)hw;
      const uint8_t *dr = regions + (uint32_t)donors[k] * (uint32_t)hw;
      const int swap = flags & FLAG_SWAP;
      const float *d = split + (uint32_t)donors[k] * (uint32_t)row;
      for (int p = 0; p < hw; p++) {
        if (!fr[p] || (swap && !dr[p])) continue;
        dst[3 * p] = d[3 * p];
        dst[3 * p + 1] = d[3 * p + 1];
        dst[3 * p + 2] = d[3 * p + 2];
      }
    }
    if (flags & FLAG_COLOURS) {
      float top = -1;
      for (int a = 0; a < row; a += 3) top = __builtin_wasm_max_f32(top, max3(dst[a], dst[a + 1], dst[a + 2]));
      double topV = ((double)top + 1) / 2;
      if (!(topV > 0)) continue;
      double cr = colours[3 * k] / topV, cg = colours[3 * k + 1] / topV, cb = colours[3 * k + 2] / topV;
      for (int a = 0; a < row; a += 3) {
        double s = (double)max3(dst[a], dst[a + 1], dst[a + 2]) + 1;
        dst[a] = (float)(s * cr - 1);
        dst[a + 1] = (float)(s * cg - 1);
        dst[a + 2] = (float)(s * cb - 1);
      }
    }
  }
}
