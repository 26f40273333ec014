/*
 * Fused training step for LeNet-GAP, in C compiled to WebAssembly SIMD: the paper's CAM + KL (docs/training.md),
 * vanilla, input-gradient penalties (RRR and the prompt-guided constraints: double backprop written out, see
 * input_gradient / penalty_value / penalty_backward), the same penalty on expected-gradients attributions (eg_image)
 * and CDEP (the contextual decomposition and its backward, cdep.c). train_step runs forward + backward for a batch;
 * sgd_update / adam_update the optimizer step (torch semantics).
 * Images are processed one by one (forward, then backward, accumulating gradients), so every
 * activation stays in L1; weights change only after the whole batch, as in any framework.
 *
 * Parameters use tfjs layouts so the TS side can copy variables in and out unchanged:
 *   conv1 W [5][5][3][6], b [6]; conv2 W [5][5][6][16], b [16]; dense W [16][10], b [10]  (3,042 floats).
 * Input: batch of 32x32x3 HWC floats (already scaled to [-1,1]); labels int32; target maps [B][100].
 */
#include <wasm_simd128.h>

typedef v128_t V;
#define EXPORT __attribute__((visibility("default"), used))
#define MAXB 1024
#define NP 3042
#define OFF_W1 0
#define OFF_B1 450
#define OFF_W2 456
#define OFF_B2 2856
#define OFF_WF 2872
#define OFF_BF 3032

/* acc + a*b. (Relaxed-SIMD fma would halve the arithmetic, but Node 20 runs it only behind
 * --experimental-wasm-relaxed-simd and clang-14 emits its pre-standard opcode, so it is not used.) */
#define MADD(acc, a, b) wasm_f32x4_add((acc), wasm_f32x4_mul((a), (b)))
#define SPLAT wasm_f32x4_splat
#define LD(p) wasm_v128_load(p)
#define ST(p, v) wasm_v128_store((p), (v))

float params[NP];
float grads[NP];
float mom[NP];
float xin[MAXB * 3072 + 16]; /* +16: vector reads may run a few floats past the last image */
int labels[MAXB];
float target[MAXB * 100];
float logits_out[MAXB * 10];
float stats[8]; /* loss sum, ce sum, kl (or penalty) sum, correct count (over the batch) */
float pmask[MAXB * 1024]; /* per-pixel weights w of the input-gradient penalty, [B][32*32] */
float pen[18];            /* S (pen[0..8]) and C (pen[9..17]) of the input-gradient penalty, row-major 3x3 */
int pen_flags;            /* bit 0: S term present (uses pmask), bit 1: C term present */
float vel[NP];            /* Adam's second moment (mom holds the first) */
/* Parameters the optimizer updates: all of them, except after an attention-only align step (ceW = 0), whose loss
 * does not depend on the output bias: that has no gradient, and (as in the tfjs engine, and PyTorch with
 * zero_grad(set_to_none=True)) a parameter without a gradient is not updated at all: no weight decay, momentum or
 * moment decay. */
static int upd_n = NP;

/* per-step weight copies in kernel-friendly layouts */
static float W1r[6 * 75];          /* [co][ci][ky][kx] */
static float W1g[6 * 75];          /* W1r with channel 0 replaced by the sum over channels (grey images) */
static const float *W1use = W1r;   /* the forward conv1's weights for the current image */
static float W2T[5 * 16 * 32];     /* [ky][co][j=kx*6+ci], j padded to 32 with zeros */
static float W1c[6 * 80];          /* [co][ky][16]: lanes 0..14 = kx*3+ci (HWC row of 5 pixels), lane 15 zero */
/* input-gradient penalty scratch (per image) */
static float gin[3072 + 32];       /* input gradient, HWC 32x32x3 (+ pad: 16-lane row writes run 1 float over) */
static float rin[3072 + 32];       /* dR/dg scaled by lambda/B, HWC */
static float dh1g[14 * 14 * 6 + 8]; /* input-gradient pass: d score / d h1 */
static float ah1[14 * 14 * 6 + 8];  /* adjoint of dh1g (d R / d dh1g) */
/* gradient accumulators in kernel layouts */
static float dW1a[6 * 80];         /* [co][ky][16]: lanes 0..14 = kx*3+ci, lane 15 unused */
/* per-image scratch */
static float xp[3 * 1024];        /* planar x + 1: background pixels (x = -1) become exact zeros */
static unsigned char segnz[3 * 32 * 2]; /* [ci][row][half]: row segment read by conv1_block half h has a nonzero */
static float b1adj[6];              /* b1 - sum of the filter: conv(x) + b = conv(x + 1) + (b - sum W) */
static float zbuf[6 * 784];
static float h1[14 * 14 * 6 + 8];
static unsigned short arg1[14 * 14 * 6];
static float dh1[14 * 14 * 6 + 8];
static float dcol[100 * 5 * 40]; /* [p][ky][4 zeros, 30 values, 6 zeros] */
static float dW2s[16 * 5 * 32];
static float gcam[100];           /* d loss / d t (CAM pre-ReLU) of the current image */
static float Ulab[10 * 160];      /* per label: sum over the batch's images of sum_p gcam[p] h1col[p] ([ky][32]) */
static float Glab[10];            /* per label: sum of gcam */
static float vlab[10 * 160];      /* per label: W2 contracted with W[:, label], [ky][32] */
static float Uimg[160];           /* Grad-CAM: this image's sum_p gcam[p] h1col[p] ([ky][32]) */
static float vimg[160];           /* Grad-CAM: W2 contracted with this image's channel weights, [ky][32] */
static float A[100 * 16];
static short arg2[25 * 16];
/* conv2's routing (made by forward_head): per channel, the h1 patch offsets ((py * 14 + px) * 6) of its pooled-cell
 * maxima that passed the ReLU */
static unsigned char rcount[16];
static unsigned short rlist[16 * 25];
static float Sh1[16 * 160];       /* per channel, the sum of h1's patches at its routed pixels ([co][ky][32]) */
static float Sah[16 * 160];       /* the same for ah1 (penalty backward) */
static unsigned rmask[32];        /* per input row, bit x: rin has a nonzero at pixel x (penalty backward skips) */
static unsigned ginrows;          /* bit y: input_gradient wrote row y of gin (other rows are 0) */
static float gap[16], prob[10];

static void prepare_weights(void) {
  const float *w1 = params + OFF_W1, *w2 = params + OFF_W2;
  for (int ky = 0; ky < 5; ky++)
    for (int kx = 0; kx < 5; kx++)
      for (int ci = 0; ci < 3; ci++)
        for (int co = 0; co < 6; co++) W1r[co * 75 + ci * 25 + ky * 5 + kx] = w1[((ky * 5 + kx) * 3 + ci) * 6 + co];
  for (int co = 0; co < 6; co++) {
    float sw = 0.f;
    for (int t = 0; t < 75; t++) { sw += W1r[co * 75 + t]; W1g[co * 75 + t] = W1r[co * 75 + t]; }
    b1adj[co] = params[OFF_B1 + co] - sw;
    for (int t = 0; t < 25; t++) W1g[co * 75 + t] = W1r[co * 75 + t] + W1r[co * 75 + 25 + t] + W1r[co * 75 + 50 + t];
  }
  for (int co = 0; co < 6; co++)
    for (int ky = 0; ky < 5; ky++) {
      for (int j = 0; j < 15; j++) W1c[co * 80 + ky * 16 + j] = w1[(ky * 15 + j) * 6 + co];
      W1c[co * 80 + ky * 16 + 15] = 0.f;
    }
  for (int i = 0; i < 5 * 16 * 32; i++) W2T[i] = 0.f;
  for (int ky = 0; ky < 5; ky++)
    for (int j = 0; j < 30; j++)
      for (int co = 0; co < 16; co++) W2T[(ky * 16 + co) * 32 + j] = w2[(ky * 30 + j) * 16 + co];
  /* vlab[y][ky][j] = sum_c W[c][y] * W2[ky][j][c] (j padded to 32 with zeros) */
  for (int yl = 0; yl < 10; yl++)
    for (int ky = 0; ky < 5; ky++)
      for (int j = 0; j < 32; j++) {
        float a = 0.f;
        for (int c = 0; c < 16; c++) a += params[OFF_WF + c * 10 + yl] * W2T[(ky * 16 + c) * 32 + j];
        vlab[(yl * 5 + ky) * 32 + j] = a;
      }
}

/* conv1 for two output channels over one output row segment of NV*4 columns starting at x0 */
static inline __attribute__((always_inline)) void conv1_block(int c0, int y, int x0, const int NV) {
  V a0[4], a1[4];
  V b0 = SPLAT(b1adj[c0]), b1 = SPLAT(b1adj[c0 + 1]);
  const int h = x0 ? 1 : 0;
  for (int j = 0; j < NV; j++) { a0[j] = b0; a1[j] = b1; }
  const float *w0 = W1use + c0 * 75, *w1 = W1use + (c0 + 1) * 75;
  for (int ci = 0; ci < 3; ci++)
    for (int ky = 0; ky < 5; ky++) {
#ifndef NO_ROWSKIP
      if (!segnz[(ci * 32 + y + ky) * 2 + h]) continue; /* all-background segment adds nothing */
#endif
      const float *row = xp + ci * 1024 + (y + ky) * 32 + x0;
      const int t = ci * 25 + ky * 5;
      for (int kx = 0; kx < 5; kx++) {
        V wa = SPLAT(w0[t + kx]), wb = SPLAT(w1[t + kx]);
        for (int j = 0; j < NV; j++) {
          V v = LD(row + kx + 4 * j);
          a0[j] = MADD(a0[j], v, wa);
          a1[j] = MADD(a1[j], v, wb);
        }
      }
    }
  float *o0 = zbuf + c0 * 784 + y * 28 + x0, *o1 = o0 + 784;
  for (int j = 0; j < NV; j++) { ST(o0 + 4 * j, a0[j]); ST(o1 + 4 * j, a1[j]); }
}

/* conv1 + maxpool 2 (pre-ReLU max kept with its position; ReLU after pooling is the same thing) */
static void forward_conv1(const float *x) {
  for (int i = 0; i < 1024; i++) {
    xp[i] = x[3 * i] + 1.f; xp[1024 + i] = x[3 * i + 1] + 1.f; xp[2048 + i] = x[3 * i + 2] + 1.f;
  }
  /* half 0 reads columns 0..19, half 1 columns 16..31 */
  for (int cr = 0; cr < 96; cr++) {
    const float *r = xp + cr * 32;
    int a = 0, b = 0;
    for (int c = 0; c < 16; c++) a |= r[c] != 0.f;
    for (int c = 20; c < 32; c++) b |= r[c] != 0.f;
    int m = 0;
    for (int c = 16; c < 20; c++) m |= r[c] != 0.f;
    segnz[cr * 2] = (unsigned char)(a | m);
    segnz[cr * 2 + 1] = (unsigned char)(b | m);
  }
  /* a grey image (three equal channels, as DecoyMNIST's) convolves once with the channel-summed filter */
  V diff = SPLAT(0.f);
  for (int i = 0; i < 1024; i += 4) {
    V c0v = LD(xp + i);
    diff = wasm_v128_or(diff, wasm_v128_or(wasm_f32x4_ne(c0v, LD(xp + 1024 + i)), wasm_f32x4_ne(c0v, LD(xp + 2048 + i))));
  }
  W1use = W1r;
  if (!wasm_v128_any_true(diff)) {
    W1use = W1g;
    for (int i = 64; i < 192; i++) segnz[i] = 0;
  }
  for (int c0 = 0; c0 < 6; c0 += 2)
    for (int y = 0; y < 28; y++) { conv1_block(c0, y, 0, 4); conv1_block(c0, y, 16, 3); }
  for (int r = 0; r < 14; r++)
    for (int c = 0; c < 14; c++)
      for (int co = 0; co < 6; co++) {
        const float *z = zbuf + co * 784;
        int p = (2 * r) * 28 + 2 * c, best = p;
        float m = z[p];
        if (z[p + 1] > m) { m = z[p + 1]; best = p + 1; }
        if (z[p + 28] > m) { m = z[p + 28]; best = p + 28; }
        if (z[p + 29] > m) { m = z[p + 29]; best = p + 29; }
        int q = (r * 14 + c) * 6 + co;
        h1[q] = m > 0.f ? m : 0.f;
        arg1[q] = (unsigned short)best;
      }
}

/* conv2 (raw output A, channel-last [100][16]) for pairs of output pixels */
static void forward_conv2(void) {
  const float *w2 = params + OFF_W2;
  V bb[4];
  for (int k = 0; k < 4; k++) bb[k] = LD(params + OFF_B2 + 4 * k);
  for (int y = 0; y < 10; y++)
    for (int x = 0; x < 10; x += 2) {
      V a0[4], a1[4];
      for (int k = 0; k < 4; k++) { a0[k] = bb[k]; a1[k] = bb[k]; }
      for (int ky = 0; ky < 5; ky++) {
        const float *seg = h1 + ((y + ky) * 14 + x) * 6;
        const float *w = w2 + ky * 480;
        for (int j = 0; j < 30; j++) {
          V s0 = SPLAT(seg[j]), s1 = SPLAT(seg[j + 6]);
          for (int k = 0; k < 4; k++) {
            V wk = LD(w + j * 16 + 4 * k);
            a0[k] = MADD(a0[k], s0, wk);
            a1[k] = MADD(a1[k], s1, wk);
          }
        }
      }
      float *o = A + (y * 10 + x) * 16;
      for (int k = 0; k < 4; k++) { ST(o + 4 * k, a0[k]); ST(o + 16 + 4 * k, a1[k]); }
    }
}

/* ReLU + maxpool 2 + global average pool + dense; returns logits in out[10] */
static void forward_head(float *out) {
  for (int c = 0; c < 16; c++) { gap[c] = 0.f; rcount[c] = 0; }
  for (int r = 0; r < 5; r++)
    for (int c = 0; c < 5; c++)
      for (int co = 0; co < 16; co++) {
        int p = (2 * r) * 10 + 2 * c, best = p, off = ((2 * r) * 14 + 2 * c) * 6; /* off: best's h1 patch */
        float m = A[p * 16 + co];
        if (A[(p + 1) * 16 + co] > m) { m = A[(p + 1) * 16 + co]; best = p + 1; off += 6; }
        if (A[(p + 10) * 16 + co] > m) { m = A[(p + 10) * 16 + co]; best = p + 10; off = ((2 * r + 1) * 14 + 2 * c) * 6; }
        if (A[(p + 11) * 16 + co] > m) { m = A[(p + 11) * 16 + co]; best = p + 11; off = ((2 * r + 1) * 14 + 2 * c + 1) * 6; }
        if (m > 0.f) {
          gap[co] += m;
          arg2[(r * 5 + c) * 16 + co] = (short)best;
          rlist[co * 25 + rcount[co]++] = (unsigned short)off;
        } else {
          arg2[(r * 5 + c) * 16 + co] = -1;
        }
      }
  for (int c = 0; c < 16; c++) gap[c] *= (1.f / 25.f);
  const float *wf = params + OFF_WF;
  for (int k = 0; k < 10; k++) {
    float s = params[OFF_BF + k];
    for (int c = 0; c < 16; c++) s += gap[c] * wf[c * 10 + k];
    out[k] = s;
  }
}


/* exp/log without libc: range reduction + polynomial, accurate to ~1 ulp-ish for float use here */
static float my_exp(float x) {
  if (x < -87.f) return 0.f;
  if (x > 88.f) x = 88.f;
  float k = __builtin_floorf(x * 1.44269504f + 0.5f);
  float r = x - k * 0.693145751953125f - k * 1.428606765330187e-06f;
  float p = 1.f + r * (1.f + r * (0.5f + r * (0.16666667f + r * (0.041666668f + r * (0.008333334f + r * (0.0013888889f + r * 0.00019841270f))))));
  int ki = (int)k;
  union { float f; int i; } u;
  u.i = (ki + 127) << 23;
  return p * u.f;
}
static float my_log(float x) {
  union { float f; int i; } u;
  u.f = x;
  int e = ((u.i >> 23) & 255) - 127;
  u.i = (u.i & 0x007fffff) | 0x3f800000; /* mantissa in [1,2) */
  float m = u.f;
  if (m > 1.41421356f) { m *= 0.5f; e += 1; }
  float t = (m - 1.f) / (m + 1.f), t2 = t * t;
  float s = 2.f * t * (1.f + t2 * (0.33333333f + t2 * (0.2f + t2 * (0.14285714f + t2 * (0.11111111f + t2 * 0.09090909f)))));
  return s + (float)e * 0.69314718f;
}

/* out (h1 layout) = the sum of dcol's rows over the conv2 pixels whose 5x5 patch covers each h1 value */
static void col2im(float *out) {
  for (int r = 0; r < 14; r++) {
    for (int m = 0; m < 84; m += 4) {
      V acc = wasm_f32x4_splat(0.f);
      int xlo = (m - 29 + 5) / 6; /* smallest x with m - 6x <= 29 */
      if (m - 29 <= 0) xlo = 0;
      int xhi = (m + 3) / 6;      /* largest x with m - 6x >= -3 */
      if (xhi > 9) xhi = 9;
      for (int ky = 0; ky < 5; ky++) {
        int y = r - ky;
        if (y < 0 || y > 9) continue;
        for (int x = xlo; x <= xhi; x++) acc = wasm_f32x4_add(acc, LD(dcol + ((y * 10 + x) * 5 + ky) * 40 + 4 + m - 6 * x));
      }
      ST(out + r * 84 + m, acc);
    }
  }
}

/* conv2 backward, CAM / Grad-CAM path. Its dA is rank one per image: dA_cam[p][c] = gcam[p] * w[c] (w: the
 * channel weights; CAM: W[:, y], Grad-CAM: the image's alpha), so instead of dense products:
 *   dW2[ky][j][c] += w[c] * sum_p gcam[p] h1col[p][ky][j]  -> accumulated into U ([ky][32]) and expanded by the
 *                                                            caller (CAM: once per step and label, as w is fixed
 *                                                            in a step; Grad-CAM: per image);
 *   db2[c]        += w[c] * sum_p gcam[p]                  -> returned;
 *   dcol[p][ky]    = gcam[p] * v[ky], v[ky][j] = sum_c w[c] W2[ky][j][c] (CAM: vlab, made per step). */
static float backward_conv2_rank1(const float *v, float *U) {
  float gs = 0.f;
  for (int p = 0; p < 100; p++) {
    float g = gcam[p];
    V gv = SPLAT(g);
    for (int ky = 0; ky < 5; ky++) {
      float *dc = dcol + (p * 5 + ky) * 40 + 4;
      for (int k = 0; k < 8; k++) ST(dc + 4 * k, wasm_f32x4_mul(gv, LD(v + ky * 32 + 4 * k)));
    }
    if (g == 0.f) continue;
    gs += g;
    int py = p / 10, px = p - py * 10;
    for (int ky = 0; ky < 5; ky++) {
      const float *seg = h1 + ((py + ky) * 14 + px) * 6;
      float *u = U + ky * 32;
      for (int k = 0; k < 8; k++) ST(u + 4 * k, MADD(LD(u + 4 * k), gv, LD(seg + 4 * k)));
    }
  }
  return gs;
}

/* Grad-CAM's conv2 backward for one image with channel weights w: vimg from w, the rank-one pass, and U and the
 * bias share expanded with w straight into the accumulators (cheap: 16 x 160 products). */
static void backward_conv2_gradcam(const float *w) {
  const V zero = SPLAT(0.f);
  for (int ky = 0; ky < 5; ky++)
    for (int k = 0; k < 8; k++) {
      V acc = zero;
      for (int c = 0; c < 16; c++) acc = MADD(acc, SPLAT(w[c]), LD(W2T + (ky * 16 + c) * 32 + 4 * k));
      ST(vimg + ky * 32 + 4 * k, acc);
    }
  for (int i = 0; i < 160; i += 4) ST(Uimg + i, zero);
  float G = backward_conv2_rank1(vimg, Uimg);
  for (int c = 0; c < 16; c++) {
    if (w[c] == 0.f) continue;
    grads[OFF_B2 + c] += w[c] * G;
    V wc = SPLAT(w[c]);
    for (int ky = 0; ky < 5; ky++) {
      float *d = dW2s + (c * 5 + ky) * 32;
      for (int k = 0; k < 8; k++) ST(d + 4 * k, MADD(LD(d + 4 * k), wc, LD(Uimg + ky * 32 + 4 * k)));
    }
  }
}

/* S[co][ky] = sum over channel co's routed pixels of src's patch rows (src in h1 layout). A pooled-path gradient
 * g[co] is the same at every routed pixel of a channel, so conv2's weight gradient is g[co] * S[co]. */
static void routed_patch_sums(const float *src, float *S) {
  const V zero = SPLAT(0.f);
  for (int co = 0; co < 16; co++) {
    const unsigned short *l = rlist + co * 25;
    const int n = rcount[co];
    for (int ky = 0; ky < 5; ky++) {
      V a[8];
      for (int k = 0; k < 8; k++) a[k] = zero;
      for (int i = 0; i < n; i++) {
        const float *sp = src + l[i] + ky * 84;
        for (int k = 0; k < 8; k++) a[k] = wasm_f32x4_add(a[k], LD(sp + 4 * k));
      }
      for (int k = 0; k < 8; k++) ST(S + (co * 5 + ky) * 32 + 4 * k, a[k]);
    }
  }
}

/* dW2s[co] += g[co] * S[co] for the routed channels */
static void add_routed_weight_grad(const float *g, const float *S) {
  for (int co = 0; co < 16; co++) {
    if (!rcount[co] || g[co] == 0.f) continue;
    V gs = SPLAT(g[co]);
    for (int i = 0; i < 160; i += 4) ST(dW2s + co * 160 + i, MADD(LD(dW2s + co * 160 + i), gs, LD(S + co * 160 + i)));
  }
}

/* conv2 backward, pooling path: dA_pool is nonzero at one pixel per (pooled cell, channel), a quarter of its
 * entries, with the same value dg[co] at every routed pixel of a channel. Its input gradient is scattered into dh1
 * (dg[co] W2[:, :, co] at each routed pixel's patch), its weight gradient is dg[co] * Sh1[co] (one product per
 * channel instead of one per routed pixel). dcol_ready: the CAM path wrote its rank-one part as dcol rows, which
 * col2im gathers into dh1 first. */
static void scatter_routed(const float *v, float *out) {
  for (int cell = 0; cell < 25; cell++)
    for (int co = 0; co < 16; co++) {
      int p = arg2[cell * 16 + co];
      float gv = v[co];
      if (p < 0 || gv == 0.f) continue;
      int py = p / 10, px = p - py * 10;
      V gs = SPLAT(gv);
      for (int ky = 0; ky < 5; ky++) {
        float *d = out + ((py + ky) * 14 + px) * 6;
        const float *wt = W2T + (ky * 16 + co) * 32;
        for (int k = 0; k < 8; k++) ST(d + 4 * k, MADD(LD(d + 4 * k), gs, LD(wt + 4 * k)));
      }
    }
}

static void backward_conv2_pool(const float *dg, int dcol_ready) {
  float *db2 = grads + OFF_B2;
  for (int co = 0; co < 16; co++) db2[co] += dg[co] * (float)rcount[co];
  if (dcol_ready) col2im(dh1);
  else { const V zero = SPLAT(0.f); for (int i = 0; i < 14 * 14 * 6 + 8; i += 4) ST(dh1 + i, zero); }
  scatter_routed(dg, dh1);
  routed_patch_sums(h1, Sh1);
  add_routed_weight_grad(dg, Sh1);
}

/* backward of ReLU + maxpool + conv1: gradient reaches only the max position of each pooled cell */
static void backward_conv1(const float *x) {
  float *db1 = grads + OFF_B1;
  for (int q = 0; q < 196; q++)
    for (int co = 0; co < 6; co++) {
      int qi = q * 6 + co;
      float g = dh1[qi];
      if (h1[qi] <= 0.f || g == 0.f) continue;
      db1[co] += g;
      int pos = arg1[qi], py = pos / 28, px = pos - py * 28;
      V gs = SPLAT(g);
      float *acc = dW1a + co * 80;
      for (int ky = 0; ky < 5; ky++) {
        const float *row = x + ((py + ky) * 32 + px) * 3;
        float *a = acc + ky * 16;
        for (int k = 0; k < 4; k++) ST(a + 4 * k, MADD(LD(a + 4 * k), gs, LD(row + 4 * k)));
      }
    }
}


static inline float hsum(V v) {
  return wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1) + wasm_f32x4_extract_lane(v, 2) + wasm_f32x4_extract_lane(v, 3);
}

/*
 * Input-gradient penalties: R(x) = sum_p w_p g_p^T S g_p + sum_p g_p^T C g_p, g = d/dx sum_k log p_k (RRR's
 * score: every class's log-probability). For a ReLU / max-pool net with the masks of this forward pass fixed,
 * g = J^T u with u = d score / d logits = 1 - 10 p, and J^T is the backward pass (dense, routing through the
 * max-pools and ReLUs, transposed convolutions). Differentiating R through that pass is one more pass in the
 * forward direction over the same masks (conv1 of r = dR/dg at the pooled positions, conv2 of its adjoint at
 * the pooled positions), which also gives the weight gradients of each transposed convolution; u depends on the
 * logits, so the adjoint of u enters the ordinary backward pass as an extra logit gradient. Masks and argmax
 * positions are piecewise constant, so nothing else contributes (as in autograd).
 */

/* dgraw[c] = sum_k Wf[c][k] u[k]; dh1g = conv2^T of the routed dgraw/25; gin = conv1^T of the routed dh1g. */
static void input_gradient(const float *u, float *dgraw) {
  const float *wf = params + OFF_WF;
  float v[16];
  for (int c = 0; c < 16; c++) {
    float s = 0.f;
    for (int k = 0; k < 10; k++) s += wf[c * 10 + k] * u[k];
    dgraw[c] = s;
    v[c] = s * (1.f / 25.f);
  }
  const V zero = SPLAT(0.f);
  for (int i = 0; i < 14 * 14 * 6 + 8; i += 4) ST(dh1g + i, zero);
  scatter_routed(v, dh1g);
  for (int i = 0; i < 3072 + 32; i += 4) ST(gin + i, zero);
  unsigned rows = 0;
  for (int q = 0; q < 196; q++)
    for (int co = 0; co < 6; co++) {
      int qi = q * 6 + co;
      float vq = dh1g[qi];
      if (h1[qi] <= 0.f || vq == 0.f) continue;
      int pos = arg1[qi], py = pos / 28, px = pos - py * 28;
      V vs = SPLAT(vq);
      const float *w = W1c + co * 80;
      rows |= 31u << py;
      for (int ky = 0; ky < 5; ky++) {
        float *gr = gin + ((py + ky) * 32 + px) * 3;
        for (int k = 0; k < 4; k++) ST(gr + 4 * k, MADD(LD(gr + 4 * k), vs, LD(w + ky * 16 + 4 * k)));
      }
    }
  ginrows = rows;
}

/* R of image n and, with coef != 0, rin = coef * dR/dg = coef * 2 (w_p S + C) g_p. *g2 = sum_p |g_p|^2. */
static float penalty_value(int n, float coef, float *g2) {
  const float *w = pmask + n * 1024;
  const int hasS = pen_flags & 1;
  V S[9], C[9];
  for (int i = 0; i < 9; i++) { S[i] = SPLAT(hasS ? pen[i] : 0.f); C[i] = SPLAT(pen_flags & 2 ? pen[9 + i] : 0.f); }
  const V zero = SPLAT(0.f), t = SPLAT(2.f * coef);
  V Rv = zero, Gv = zero;
  for (int y = 0; y < 32; y++) {
    unsigned mk = 0;
    float *rrow = rin + y * 96;
    if (!(ginrows & (1u << y))) { /* no unit wrote this row: g = 0 there */
      for (int i = 0; i < 96; i += 4) ST(rrow + i, zero);
      rmask[y] = 0;
      continue;
    }
    /* four pixels at a time: HWC [a0 b0 c0 a1][b1 c1 a2 b2][c2 a3 b3 c3] -> planar a, b, c and back */
    for (int x = 0; x < 32; x += 4) {
      const float *gp = gin + (y * 32 + x) * 3;
      V v0 = LD(gp), v1 = LD(gp + 4), v2 = LD(gp + 8);
      V a = wasm_i32x4_shuffle(wasm_i32x4_shuffle(v0, v1, 0, 3, 6, 0), v2, 0, 1, 2, 5);
      V b = wasm_i32x4_shuffle(wasm_i32x4_shuffle(v0, v1, 1, 4, 7, 0), v2, 0, 1, 2, 6);
      V c = wasm_i32x4_shuffle(wasm_i32x4_shuffle(v0, v1, 2, 5, 0, 0), v2, 0, 1, 4, 7);
      V wv = hasS ? LD(w + y * 32 + x) : zero;
      /* q = (w S + C) g */
      V q0 = wasm_f32x4_add(wasm_f32x4_mul(wv, MADD(MADD(wasm_f32x4_mul(S[0], a), S[1], b), S[2], c)), MADD(MADD(wasm_f32x4_mul(C[0], a), C[1], b), C[2], c));
      V q1 = wasm_f32x4_add(wasm_f32x4_mul(wv, MADD(MADD(wasm_f32x4_mul(S[3], a), S[4], b), S[5], c)), MADD(MADD(wasm_f32x4_mul(C[3], a), C[4], b), C[5], c));
      V q2 = wasm_f32x4_add(wasm_f32x4_mul(wv, MADD(MADD(wasm_f32x4_mul(S[6], a), S[7], b), S[8], c)), MADD(MADD(wasm_f32x4_mul(C[6], a), C[7], b), C[8], c));
      Rv = MADD(MADD(MADD(Rv, a, q0), b, q1), c, q2);
      Gv = MADD(MADD(MADD(Gv, a, a), b, b), c, c);
      V r0 = wasm_f32x4_mul(t, q0), r1 = wasm_f32x4_mul(t, q1), r2 = wasm_f32x4_mul(t, q2);
      V lo = wasm_i32x4_shuffle(r0, r1, 0, 4, 1, 5), hi = wasm_i32x4_shuffle(r0, r1, 2, 6, 3, 7);
      float *rp = rrow + x * 3;
      ST(rp, wasm_i32x4_shuffle(lo, r2, 0, 1, 4, 2));
      ST(rp + 4, wasm_i32x4_shuffle(wasm_i32x4_shuffle(lo, r2, 3, 5, 0, 0), hi, 0, 1, 4, 5));
      ST(rp + 8, wasm_i32x4_shuffle(hi, r2, 6, 2, 3, 7));
      V nz = wasm_v128_or(wasm_v128_or(wasm_f32x4_ne(q0, zero), wasm_f32x4_ne(q1, zero)), wasm_f32x4_ne(q2, zero));
      mk |= (unsigned)wasm_i32x4_bitmask(nz) << x;
    }
    rmask[y] = mk;
  }
  *g2 = hsum(Gv);
  return hsum(Rv);
}

/* Backward of the penalty through the input-gradient pass (rin and rmask set by penalty_value or
 * saliency_backward): weight gradients into dW1a / dW2s / grads (dense), and the adjoint of u into au[10]. */
static void penalty_backward(const float *u, const float *dgraw, float *au) {
  /* ah1 = d R / d dh1g: conv1 of r read at each pooled position (only where the ReLU passed); the same rows give
   * conv1's weight gradient r (x) dz1 of the input-gradient pass. Units whose 5x5 input patch has no nonzero r are
   * skipped (RRR with a sparse mask: most of them). */
  for (int q = 0; q < 196; q++)
    for (int co = 0; co < 6; co++) {
      int qi = q * 6 + co;
      ah1[qi] = 0.f;
      if (h1[qi] <= 0.f) continue;
      int pos = arg1[qi], py = pos / 28, px = pos - py * 28;
      if (!(((rmask[py] | rmask[py + 1] | rmask[py + 2] | rmask[py + 3] | rmask[py + 4]) >> px) & 31u)) continue;
      const float *w = W1c + co * 80;
      float v = dh1g[qi];
      V vs = SPLAT(v), acc[4];
      for (int k = 0; k < 4; k++) acc[k] = SPLAT(0.f); /* four chains: one would wait on each add's latency */
      float *dw = dW1a + co * 80;
      for (int ky = 0; ky < 5; ky++) {
        const float *rr = rin + ((py + ky) * 32 + px) * 3;
        for (int k = 0; k < 4; k++) {
          V rv = LD(rr + 4 * k);
          acc[k] = MADD(acc[k], rv, LD(w + ky * 16 + 4 * k));
          if (v != 0.f) ST(dw + ky * 16 + 4 * k, MADD(LD(dw + ky * 16 + 4 * k), vs, rv));
        }
      }
      ah1[qi] = hsum(wasm_f32x4_add(wasm_f32x4_add(acc[0], acc[1]), wasm_f32x4_add(acc[2], acc[3])));
    }
  /* dgraw/25 is the same at every routed pixel of a channel: a_dgraw[co] = <Sah[co], W2T[co]> / 25 and conv2's
   * weight gradient dgraw[co]/25 * Sah[co], Sah[co] = the sum of ah1's patches at co's routed pixels */
  routed_patch_sums(ah1, Sah);
  float adg[16], dav[16];
  for (int co = 0; co < 16; co++) {
    dav[co] = dgraw[co] * (1.f / 25.f);
    adg[co] = 0.f;
    if (!rcount[co]) continue;
    V acc[8];
    for (int k = 0; k < 8; k++) acc[k] = SPLAT(0.f);
    for (int ky = 0; ky < 5; ky++)
      for (int k = 0; k < 8; k++) acc[k] = MADD(acc[k], LD(Sah + (co * 5 + ky) * 32 + 4 * k), LD(W2T + (ky * 16 + co) * 32 + 4 * k));
    for (int k = 1; k < 8; k++) acc[0] = wasm_f32x4_add(acc[0], acc[k]);
    adg[co] = hsum(acc[0]) * (1.f / 25.f);
  }
  add_routed_weight_grad(dav, Sah);
  /* dgraw = Wf u: dWf += adg (x) u, au = Wf^T adg */
  float *dwf = grads + OFF_WF;
  const float *wf = params + OFF_WF;
  for (int k = 0; k < 10; k++) au[k] = 0.f;
  for (int c = 0; c < 16; c++) {
    if (adg[c] == 0.f) continue;
    for (int k = 0; k < 10; k++) { dwf[c * 10 + k] += adg[c] * u[k]; au[k] += wf[c * 10 + k] * adg[c]; }
  }
}

/* RRR's score gradient u = d(sum_k log p_k)/d logits = 1 - 10 p. */
static void rrr_u(float *u) {
  for (int k = 0; k < 10; k++) u[k] = 1.f - 10.f * prob[k];
}

/*
 * The attention maps of method align and the paper's loss on them. Modes (train_step / eval_batch):
 * 1 CAM, 3 Grad-CAM, 4 input-gradient saliency (2 is the input-gradient penalty, 0 vanilla).
 */
#define MODE_CAM 1
#define MODE_RRR 2
#define MODE_GRADCAM 3
#define MODE_INPUTGRAD 4
#define MODE_EG 5

/* The paper's KL on one image's non-negative 100-cell map m (CAM, Grad-CAM or the pooled saliency):
 * s = (m - min m) / (max m - min m + 1e-8) / T, log p = log_softmax(s); returns KL(q || p) = sum_{q>0} q (log q -
 * log p). With dm, also dm = coef * d KL / d m (min and max route to their first position, as tfjs and torch do
 * for a unique extreme). */
static float paper_kl(const float *m, const float *q, float invT, float coef, float *dm) {
  float mx = -1e30f, mn = 1e30f;
  int imax = 0, imin = 0;
  for (int p = 0; p < 100; p++) {
    if (m[p] > mx) { mx = m[p]; imax = p; }
    if (m[p] < mn) { mn = m[p]; imin = p; }
  }
  float invD = 1.f / (mx - mn + 1e-8f);
  float s[100], e[100], smax = -1e30f;
  for (int p = 0; p < 100; p++) {
    s[p] = (m[p] - mn) * invD * invT; /* s / T (paper: T = 1) */
    if (s[p] > smax) smax = s[p];
  }
  float se = 0.f;
  for (int p = 0; p < 100; p++) { e[p] = my_exp(s[p] - smax); se += e[p]; }
  float lse = smax + my_log(se), kl = 0.f, sq = 0.f;
  for (int p = 0; p < 100; p++)
    if (q[p] > 0.f) { kl += q[p] * (my_log(q[p]) - (s[p] - lse)); sq += q[p]; }
  if (!dm) return kl;
  /* d loss / d lp = -coef q; log-softmax backward; min-max backward */
  float T = 1.f / invT;
  float c0 = -coef, sdlp = c0 * sq, dmx = 0.f, dmn = 0.f;
  float ds[100];
  for (int p = 0; p < 100; p++) {
    float pr = e[p] / se;
    ds[p] = (c0 * q[p] - pr * sdlp) * invT; /* d/d(minmax value u), u = s*T */
    float u = s[p] * T;
    dmx -= ds[p] * u;
    dmn += ds[p] * (u - 1.f);
  }
  for (int p = 0; p < 100; p++) dm[p] = ds[p] * invD;
  dm[imax] += dmx * invD;
  dm[imin] += dmn * invD;
  return kl;
}

/* Evaluation's reverse KL(p || q) = sum p (log p - log(q + 1e-8)) of the same distribution p. */
static float paper_rkl(const float *m, const float *q, float invT) {
  float mx = -1e30f, mn = 1e30f;
  for (int p = 0; p < 100; p++) { if (m[p] > mx) mx = m[p]; if (m[p] < mn) mn = m[p]; }
  float invD = 1.f / (mx - mn + 1e-8f), s[100], smax = -1e30f;
  for (int p = 0; p < 100; p++) { s[p] = (m[p] - mn) * invD * invT; if (s[p] > smax) smax = s[p]; }
  float se = 0.f;
  for (int p = 0; p < 100; p++) se += my_exp(s[p] - smax);
  float lse = smax + my_log(se), kl = 0.f;
  for (int p = 0; p < 100; p++) { float lp = s[p] - lse; kl += my_exp(lp) * (lp - my_log(q[p] + 1e-8f)); }
  return kl;
}

/* Channel weights of the attention map for label y. CAM: W[:, y]. Grad-CAM: the spatial mean of d logit_y / dA,
 * which for LeNet-GAP is W[c, y] * n_c / 2500 (n_c: pooled cells of channel c whose maximum passed the ReLU; the
 * routing is piecewise constant, so the map's gradient reaches W only through W[:, y]); nsc[c] = n_c / 2500. */
static void channel_weights(int mode, int y, float *w, float *nsc) {
  const float *wf = params + OFF_WF;
  for (int c = 0; c < 16; c++) {
    float k = 1.f;
    if (mode == MODE_GRADCAM) {
      k = (float)rcount[c] * (1.f / 2500.f);
    }
    nsc[c] = k;
    w[c] = wf[c * 10 + y] * k;
  }
}

/* t[p] = sum_c A[p][c] w[c] (the map before its ReLU). */
static void channel_map(const float *w, float *t) {
  for (int p = 0; p < 100; p++) {
    float v = 0.f;
    for (int c = 0; c < 16; c++) v += A[p * 16 + c] * w[c];
    t[p] = v;
  }
}

/* Area pooling 32x32 -> 10x10 (lib/maps/postprocess.ts areaWeights): output o covers pixels aw_lo[o] ..
 * aw_lo[o] + aw_n[o] - 1 with weights aw_w[o][k] (overlap / 3.2, made in double as the TS code does). */
static int aw_lo[10], aw_n[10], aw_ready;
static float aw_w[10][6];
static void area_init(void) {
  if (aw_ready) return;
  const double scale = 32.0 / 10.0;
  for (int o = 0; o < 10; o++) {
    double a = o * scale, b = (o + 1) * scale;
    int lo = (int)__builtin_floor(a), hi = (int)__builtin_ceil(b);
    if (hi > 32) hi = 32;
    aw_n[o] = 0;
    for (int i = lo; i < hi; i++) {
      double ov = (b < i + 1 ? b : i + 1) - (a > i ? a : i);
      if (ov > 1e-12) {
        if (aw_n[o] == 0) aw_lo[o] = i;
        aw_w[o][aw_n[o]++] = (float)(ov / scale);
      }
    }
  }
  aw_ready = 1;
}

/* Input-gradient saliency map: |g| summed over channels (g in gin), area-pooled to the 10x10 grid. */
static void saliency_map(float *map) {
  float sal[1024], rowp[32 * 10];
  for (int iy = 0; iy < 32; iy++) {
    if (!(ginrows & (1u << iy))) { for (int ox = 0; ox < 10; ox++) rowp[iy * 10 + ox] = 0.f; continue; }
    /* |g| summed over the channels, four pixels at a time (HWC deinterleaved as in penalty_value) */
    for (int x = 0; x < 32; x += 4) {
      const float *gp = gin + (iy * 32 + x) * 3;
      V v0 = wasm_f32x4_abs(LD(gp)), v1 = wasm_f32x4_abs(LD(gp + 4)), v2 = wasm_f32x4_abs(LD(gp + 8));
      V a = wasm_i32x4_shuffle(wasm_i32x4_shuffle(v0, v1, 0, 3, 6, 0), v2, 0, 1, 2, 5);
      V b = wasm_i32x4_shuffle(wasm_i32x4_shuffle(v0, v1, 1, 4, 7, 0), v2, 0, 1, 2, 6);
      V c = wasm_i32x4_shuffle(wasm_i32x4_shuffle(v0, v1, 2, 5, 0, 0), v2, 0, 1, 4, 7);
      ST(sal + iy * 32 + x, wasm_f32x4_add(wasm_f32x4_add(a, b), c));
    }
    for (int ox = 0; ox < 10; ox++) {
      float s = 0.f;
      for (int k = 0; k < aw_n[ox]; k++) s += aw_w[ox][k] * sal[iy * 32 + aw_lo[ox] + k];
      rowp[iy * 10 + ox] = s;
    }
  }
  for (int oy = 0; oy < 10; oy++)
    for (int ox = 0; ox < 10; ox++) {
      float a = 0.f;
      for (int k = 0; k < aw_n[oy]; k++) a += aw_w[oy][k] * rowp[(aw_lo[oy] + k) * 10 + ox];
      map[oy * 10 + ox] = a;
    }
}

/* Adjoint of saliency_map: rin = sign(g) * (P^T dmap) per pixel, broadcast over the channels (sign(0) = 0). */
static void saliency_backward(const float *dmap) {
  float drow[32 * 10];
  for (int i = 0; i < 320; i++) drow[i] = 0.f;
  for (int oy = 0; oy < 10; oy++)
    for (int k = 0; k < aw_n[oy]; k++)
      for (int ox = 0; ox < 10; ox++) drow[(aw_lo[oy] + k) * 10 + ox] += aw_w[oy][k] * dmap[oy * 10 + ox];
  const V zero = SPLAT(0.f);
  for (int iy = 0; iy < 32; iy++) {
    float *rrow = rin + iy * 96;
    if (!(ginrows & (1u << iy))) {
      for (int i = 0; i < 96; i += 4) ST(rrow + i, zero);
      rmask[iy] = 0;
      continue;
    }
    float ds[32];
    for (int ix = 0; ix < 32; ix++) ds[ix] = 0.f;
    for (int ox = 0; ox < 10; ox++)
      for (int k = 0; k < aw_n[ox]; k++) ds[aw_lo[ox] + k] += aw_w[ox][k] * drow[iy * 10 + ox];
    unsigned mk = 0;
    for (int x = 0; x < 32; x += 4) {
      /* ds of four pixels broadcast over their channels: [d0 d0 d0 d1][d1 d1 d2 d2][d2 d3 d3 d3] */
      V d = LD(ds + x);
      V e[3] = { wasm_i32x4_shuffle(d, d, 0, 0, 0, 1), wasm_i32x4_shuffle(d, d, 1, 1, 2, 2), wasm_i32x4_shuffle(d, d, 2, 3, 3, 3) };
      const float *gp = gin + (iy * 32 + x) * 3;
      float *rp = rrow + x * 3;
      for (int k = 0; k < 3; k++) {
        V g = LD(gp + 4 * k);
        ST(rp + 4 * k, wasm_f32x4_sub(wasm_v128_and(wasm_f32x4_gt(g, zero), e[k]), wasm_v128_and(wasm_f32x4_lt(g, zero), e[k])));
      }
      /* rmask may over-cover (it only lets penalty_backward skip): pixels with ds != 0 */
      mk |= (unsigned)wasm_i32x4_bitmask(wasm_f32x4_ne(d, zero)) << x;
    }
    rmask[iy] = mk;
  }
}

#include "cdep.c" /* MODE_CDEP: cdep_image */

/* one image: forward, loss, backward (gradients accumulate into grads/dW1a). mode: 0 vanilla, MODE_CAM /
 * MODE_GRADCAM / MODE_INPUTGRAD (align: + lam * paper KL of that map), MODE_RRR (+ lam * R), MODE_CDEP (+ lam *
 * CDEP's score, cdep.c). */
static void image_step(int n, float invB, float lam, float ceW, float invT, int mode) {
  const float *x = xin + n * 3072;
  int y = labels[n];
  forward_conv1(x);
  forward_conv2();
  float lg[10];
  forward_head(lg);
  /* cross-entropy */
  float mx = lg[0];
  int am = 0;
  for (int k = 1; k < 10; k++) if (lg[k] > mx) { mx = lg[k]; am = k; }
  float se = 0.f;
  for (int k = 0; k < 10; k++) { prob[k] = my_exp(lg[k] - mx); se += prob[k]; }
  float lse = mx + my_log(se);
  stats[1] += lse - lg[y];
  stats[3] += (am == y) ? 1.f : 0.f;
  float dl[10];
  for (int k = 0; k < 10; k++) { prob[k] /= se; dl[k] = (prob[k] - (k == y ? 1.f : 0.f)) * invB * ceW; }
  float att = 0.f; /* the attention term before lambda: KL or R */
  if (mode == MODE_RRR) {
    /* input-gradient penalty: its weight gradients go straight into the accumulators; the adjoint of u joins the
     * logits' gradient through the softmax (u = 1 - 10 p: du_k/dz_j = -10 p_k (delta_kj - p_j)) */
    float u[10], dgraw[16], au[10], g2;
    rrr_u(u);
    input_gradient(u, dgraw);
    att = penalty_value(n, lam * invB, &g2);
    penalty_backward(u, dgraw, au);
    float pa = 0.f;
    for (int k = 0; k < 10; k++) pa += prob[k] * au[k];
    for (int k = 0; k < 10; k++) dl[k] += -10.f * prob[k] * (au[k] - pa);
  } else if (mode == MODE_INPUTGRAD) {
    /* saliency of the true-class logit (u = one-hot, constant: no logit term); the map's adjoint becomes dR/dg for
     * the same double backprop as the penalty */
    float u[10], dgraw[16], au[10], map[100], dmap[100];
    for (int k = 0; k < 10; k++) u[k] = k == y ? 1.f : 0.f;
    input_gradient(u, dgraw);
    saliency_map(map);
    att = paper_kl(map, target + n * 100, invT, lam * invB, dmap);
    saliency_backward(dmap);
    penalty_backward(u, dgraw, au);
  } else if (mode == MODE_CDEP) {
    att = cdep_image(n, lam * invB); /* its own buffers: the CE backward below still reads this image's forward */
  }
  /* dense */
  float *dwf = grads + OFF_WF, *dbf = grads + OFF_BF;
  const float *wf = params + OFF_WF;
  float dg[16];
  for (int k = 0; k < 10; k++) dbf[k] += dl[k];
  for (int c = 0; c < 16; c++) {
    float s = 0.f;
    for (int k = 0; k < 10; k++) { dwf[c * 10 + k] += gap[c] * dl[k]; s += wf[c * 10 + k] * dl[k]; }
    dg[c] = s * (1.f / 25.f);
  }
  const int cammode = mode == MODE_CAM || mode == MODE_GRADCAM;
  float w[16];
  if (cammode) {
    /* map = relu(t), t = A . w (CAM: w = W[:,y]; Grad-CAM: w = alpha); paper KL; relu backward into gcam, the
     * channel weights' gradient into W[:, y] */
    float nsc[16], t[100], m[100], dm[100], dw[16];
    channel_weights(mode, y, w, nsc);
    channel_map(w, t);
    for (int p = 0; p < 100; p++) m[p] = t[p] > 0.f ? t[p] : 0.f;
    att = paper_kl(m, target + n * 100, invT, lam * invB, dm);
    for (int c = 0; c < 16; c++) dw[c] = 0.f;
    for (int p = 0; p < 100; p++) {
      float g = t[p] > 0.f ? dm[p] : 0.f;
      gcam[p] = g;
      if (g == 0.f) continue;
      for (int c = 0; c < 16; c++) dw[c] += g * A[p * 16 + c];
    }
    for (int c = 0; c < 16; c++) dwf[c * 10 + y] += dw[c] * nsc[c];
  }
  stats[2] += att;
  stats[0] += ceW * (lse - lg[y]) + lam * att;
  if (mode == MODE_CAM) Glab[y] += backward_conv2_rank1(vlab + y * 160, Ulab + y * 160);
  else if (mode == MODE_GRADCAM) backward_conv2_gradcam(w);
  backward_conv2_pool(dg, cammode);
  backward_conv1(x);
}

/*
 * Expected-gradients penalty (lib/losses/expected-gradients.ts): per image x, k draws (reference row r of xin, alpha):
 * x' = r + alpha (x - r), a = (x - r) * J(x')^T u with u = d p_y / d z = p_y (e_y - p') at the logits z of x', and
 * R = sum_p w_p a_p^T S a_p + a_p^T C a_p, averaged over the draws. Each draw is the RRR machinery on x' with two
 * changes: a = d * g instead of g (so dR/dg = d * dR/da), and u's own derivative du/dz (the softmax of x').
 * eg_ref / eg_alpha: draw d of image n at n * eg_k + d; references index rows of xin, which may hold more rows than
 * the batch (the caller appends reference images from outside a chunk).
 */
#define EGMAX (8 * MAXB)
int eg_ref[EGMAX];
float eg_alpha[EGMAX];
static int eg_k = 1;
static float xe[3072 + 16];  /* x' of the current draw, HWC (+16: backward_conv1's vector reads run past a row) */
static float de[3072];       /* x - r of the current draw, HWC */

/* The k draws of image n after its CE step (image_step has finished its backward pass, so the per-image state of
 * forward_conv1 (xp, segnz, W1use) and the activations may be overwritten). coef = lam / (B k): the penalty's weight
 * per draw. Returns sum over the draws of R. */
static float eg_image(int n, float coef) {
  const float *x = xin + n * 3072;
  const int y = labels[n];
  float Rsum = 0.f;
  for (int d = 0; d < eg_k; d++) {
    const float *r = xin + eg_ref[n * eg_k + d] * 3072;
    const float al = eg_alpha[n * eg_k + d];
    for (int i = 0; i < 3072; i++) { float df = x[i] - r[i]; de[i] = df; xe[i] = r[i] + al * df; }
    forward_conv1(xe);
    forward_conv2();
    float lg[10];
    forward_head(lg);
    float mx = lg[0], se = 0.f;
    for (int k = 1; k < 10; k++) if (lg[k] > mx) mx = lg[k];
    for (int k = 0; k < 10; k++) { prob[k] = my_exp(lg[k] - mx); se += prob[k]; }
    for (int k = 0; k < 10; k++) prob[k] /= se;
    const float py = prob[y];
    float u[10], dgraw[16], au[10], g2;
    for (int k = 0; k < 10; k++) u[k] = py * ((k == y ? 1.f : 0.f) - prob[k]);
    input_gradient(u, dgraw);
    /* a = d * g in place (rows input_gradient did not write stay 0); penalty_value then gives R(a) and
     * rin = coef dR/da, and dR/dg = d * that (rmask, from dR/da, may over-cover: it only lets the backward skip) */
    for (int yy = 0; yy < 32; yy++) {
      if (!(ginrows & (1u << yy))) continue;
      for (int i = yy * 96; i < yy * 96 + 96; i += 4) ST(gin + i, wasm_f32x4_mul(LD(gin + i), LD(de + i)));
    }
    Rsum += penalty_value(n, coef, &g2);
    for (int yy = 0; yy < 32; yy++) {
      if (!rmask[yy]) continue;
      for (int i = yy * 96; i < yy * 96 + 96; i += 4) ST(rin + i, wasm_f32x4_mul(LD(rin + i), LD(de + i)));
    }
    penalty_backward(u, dgraw, au);
    /* u_k = p_y (delta_ky - p_k): d/dz_j of <au, u> = p_y [(delta_yj - p_j)(au_y - s) - p_j (au_j - s)], s = <au, p> */
    float s = 0.f, dl[10];
    for (int k = 0; k < 10; k++) s += au[k] * prob[k];
    for (int j = 0; j < 10; j++) dl[j] = py * (((j == y ? 1.f : 0.f) - prob[j]) * (au[y] - s) - prob[j] * (au[j] - s));
    /* the ordinary backward of x' with that logit gradient */
    float *dwf = grads + OFF_WF, *dbf = grads + OFF_BF;
    const float *wf = params + OFF_WF;
    float dg[16];
    for (int k = 0; k < 10; k++) dbf[k] += dl[k];
    for (int c = 0; c < 16; c++) {
      float t = 0.f;
      for (int k = 0; k < 10; k++) { dwf[c * 10 + k] += gap[c] * dl[k]; t += wf[c * 10 + k] * dl[k]; }
      dg[c] = t * (1.f / 25.f);
    }
    backward_conv2_pool(dg, 0);
    backward_conv1(xe);
  }
  return Rsum;
}

/* Gradients of one batch (in xin/labels/target) into grads; parameters are not changed (sgd_update does
 * that, so a non-finite loss can be rejected first). mode 0: loss = ceW * CE; modes 1, 3, 4 (align with CAM,
 * Grad-CAM, input-gradient saliency): + lam * KL(q || softmax(minmax(map)/T)); mode 2 (rrr): + lam * R (the
 * input-gradient penalty set by pen/pen_flags/pmask); mode 5 (eg): + lam * the mean over images and draws of R
 * applied to expected-gradients attributions (draws in eg_ref / eg_alpha, eg_k per image; see eg_image); mode 6
 * (cdep): + lam * CDEP's penalty (the region set by pen/pen_flags/pmask or cdep_pix; see cdep.c).
 * stats: [0] mean loss, [1] mean CE, [2] mean KL or R, [3] correct count. */
EXPORT float train_step(int B, float lam, float ceW, float invT, int mode) {
  const int align = mode == MODE_CAM;
  upd_n = (ceW == 0.f && (mode == MODE_CAM || mode == MODE_GRADCAM || mode == MODE_INPUTGRAD)) ? OFF_BF : NP;
  prepare_weights();
  area_init();
  for (int i = 0; i < NP; i++) grads[i] = 0.f;
  for (int i = 0; i < 6 * 80; i++) dW1a[i] = 0.f;
  for (int i = 0; i < 16 * 5 * 32; i++) dW2s[i] = 0.f;
  for (int i = 0; i < 10 * 160; i++) Ulab[i] = 0.f;
  for (int i = 0; i < 10; i++) Glab[i] = 0.f;
  for (int i = 0; i < 8; i++) stats[i] = 0.f;
  float invB = 1.f / (float)B;
  if (mode == MODE_EG) {
    /* the CE step of each image as in mode 0, then its draws; stats[2] gets the mean R over the image's draws */
    const float coef = lam * invB / (float)eg_k, invK = 1.f / (float)eg_k;
    for (int n = 0; n < B; n++) {
      image_step(n, invB, 0.f, ceW, invT, 0);
      float att = eg_image(n, coef) * invK;
      stats[2] += att;
      stats[0] += lam * att;
    }
  } else {
    for (int n = 0; n < B; n++) image_step(n, invB, lam, ceW, invT, mode);
  }
  for (int co = 0; co < 6; co++)
    for (int ky = 0; ky < 5; ky++)
      for (int j = 0; j < 15; j++) grads[OFF_W1 + (ky * 15 + j) * 6 + co] = dW1a[co * 80 + ky * 16 + j];
  for (int co = 0; co < 16; co++)
    for (int ky = 0; ky < 5; ky++)
      for (int j = 0; j < 30; j++) grads[OFF_W2 + (ky * 30 + j) * 16 + co] += dW2s[(co * 5 + ky) * 32 + j];
  if (align) {
    const float *wf = params + OFF_WF;
    for (int yl = 0; yl < 10; yl++) {
      if (Glab[yl] == 0.f) {
        int any = 0;
        for (int i = 0; i < 160; i++) any |= Ulab[yl * 160 + i] != 0.f;
        if (!any) continue;
      }
      for (int co = 0; co < 16; co++) {
        float w = wf[co * 10 + yl];
        grads[OFF_B2 + co] += w * Glab[yl];
        for (int ky = 0; ky < 5; ky++)
          for (int j = 0; j < 30; j++) grads[OFF_W2 + (ky * 30 + j) * 16 + co] += w * Ulab[yl * 160 + ky * 32 + j];
      }
    }
  }
  stats[0] *= invB; stats[1] *= invB; stats[2] *= invB;
  return stats[0];
}

/* torch.optim.SGD: g = grad + wd*w; buf = m*buf + g; w -= lr*buf (buf starts at 0, so step 1 gives buf = g). */
EXPORT void sgd_update(float lr, float momentum, float wd) {
  for (int i = 0; i < upd_n; i++) {
    float g = grads[i] + wd * params[i];
    float b = momentum * mom[i] + g;
    mom[i] = b;
    params[i] -= lr * b;
  }
}

/* torch.optim.Adam (L2 weight decay added to the gradient, not AdamW): m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 * w -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps), bc_i = 1 - b_i^t (the caller passes t, counted from 1). */
EXPORT void adam_update(float lr, float b1, float b2, float eps, float wd, float bc1, float bc2) {
  float sbc2 = __builtin_sqrtf(bc2), step = lr / bc1;
  for (int i = 0; i < upd_n; i++) {
    float g = grads[i] + wd * params[i];
    float m = b1 * mom[i] + (1.f - b1) * g;
    float v = b2 * vel[i] + (1.f - b2) * g * g;
    mom[i] = m; vel[i] = v;
    params[i] -= step * (m / (__builtin_sqrtf(v) / sbc2 + eps));
  }
}

/* Forward only: logits for B images into logits_out; stats[0] = correct count. With att (MODE_CAM, MODE_GRADCAM or
 * MODE_INPUTGRAD), stats[1] = sum over images of the reverse KL(p || q) = sum p (log p - log(q + 1e-8)), p the
 * paper's distribution of that attention map. With want_share, stats[2] = sum of R / sum |g|^2. */
EXPORT void eval_batch(int B, int att, float invT, int want_share) {
  prepare_weights();
  area_init();
  stats[0] = 0.f; stats[1] = 0.f; stats[2] = 0.f;
  for (int n = 0; n < B; n++) {
    float *lg = logits_out + n * 10;
    forward_conv1(xin + n * 3072);
    forward_conv2();
    forward_head(lg);
    int y = labels[n], am = 0;
    for (int k = 1; k < 10; k++) if (lg[k] > lg[am]) am = k;
    if (am == y) stats[0] += 1.f;
    if (want_share) {
      /* share of the input-gradient energy that the penalty excludes: R / sum |g|^2 */
      float mx = lg[0], se = 0.f, u[10], dgraw[16], g2;
      for (int k = 1; k < 10; k++) if (lg[k] > mx) mx = lg[k];
      for (int k = 0; k < 10; k++) { prob[k] = my_exp(lg[k] - mx); se += prob[k]; }
      for (int k = 0; k < 10; k++) prob[k] /= se;
      rrr_u(u);
      input_gradient(u, dgraw);
      float R = penalty_value(n, 0.f, &g2);
      if (g2 > 0.f) stats[2] += R / g2;
    }
    float m[100];
    if (att == MODE_CAM || att == MODE_GRADCAM) {
      float w[16], nsc[16];
      channel_weights(att, y, w, nsc);
      channel_map(w, m);
      for (int p = 0; p < 100; p++) m[p] = m[p] > 0.f ? m[p] : 0.f;
    } else if (att == MODE_INPUTGRAD) {
      float u[10], dgraw[16];
      for (int k = 0; k < 10; k++) u[k] = k == y ? 1.f : 0.f;
      input_gradient(u, dgraw);
      saliency_map(m);
    } else {
      continue;
    }
    stats[1] += paper_rkl(m, target + n * 100, invT);
  }
}

EXPORT void reset_momentum(void) { for (int i = 0; i < NP; i++) { mom[i] = 0.f; vel[i] = 0.f; } }
EXPORT float *ptr_vel(void) { return vel; }
EXPORT float *ptr_pmask(void) { return pmask; }
EXPORT float *ptr_pen(void) { return pen; }
EXPORT void set_pen_flags(int f) { pen_flags = f; }
EXPORT int max_batch(void) { return MAXB; }
EXPORT int max_eg_draws(void) { return EGMAX; }
EXPORT int *ptr_eg_ref(void) { return eg_ref; }
EXPORT float *ptr_eg_alpha(void) { return eg_alpha; }
EXPORT void set_eg_k(int k) { eg_k = k; }
EXPORT float *ptr_params(void) { return params; }
EXPORT float *ptr_grads(void) { return grads; }
EXPORT float *ptr_mom(void) { return mom; }
EXPORT float *ptr_x(void) { return xin; }
EXPORT int *ptr_labels(void) { return labels; }
EXPORT float *ptr_target(void) { return target; }
EXPORT float *ptr_logits(void) { return logits_out; }
EXPORT float *ptr_stats(void) { return stats; }

/* Per-phase timing hook (bench --profile): runs one phase `reps` times on image 0 of xin (phases 11-14 on the
 * state of image 0's forward pass and RRR input gradient, made once before timing). */
EXPORT void prof_phase(int which, int reps) {
  const float *x = xin;
  prepare_weights();
  area_init();
  float u[10], dgraw[16], au[10], g2, map[100];
  if (which >= 11) {
    float lg[10];
    forward_conv1(x); forward_conv2(); forward_head(lg);
    float mx = lg[0], se = 0.f;
    for (int k = 1; k < 10; k++) if (lg[k] > mx) mx = lg[k];
    for (int k = 0; k < 10; k++) { prob[k] = my_exp(lg[k] - mx); se += prob[k]; }
    for (int k = 0; k < 10; k++) prob[k] /= se;
    rrr_u(u);
    input_gradient(u, dgraw);
    penalty_value(0, 1.f / 32.f, &g2);
  }
  for (int r = 0; r < reps; r++) {
    switch (which) {
      case 0: forward_conv1(x); break;
      case 1: forward_conv2(); break;
      case 2: { float lg[10]; forward_head(lg); } break;
      case 3: backward_conv2_pool(gap, 0); break;
      case 4: backward_conv1(x); break;
      case 6: Glab[0] += backward_conv2_rank1(vlab + labels[0] * 160, Ulab + labels[0] * 160); break;
      case 7: col2im(dh1); break;
      case 5: image_step(0, 1.f / 32.f, 160.f, 1.f, 1.f, MODE_CAM); break;
      case 8: image_step(0, 1.f / 32.f, 10.f, 1.f, 1.f, MODE_RRR); break;
      case 9: image_step(0, 1.f / 32.f, 160.f, 1.f, 1.f, MODE_GRADCAM); break;
      case 10: image_step(0, 1.f / 32.f, 160.f, 1.f, 1.f, MODE_INPUTGRAD); break;
      case 11: input_gradient(u, dgraw); break;
      case 12: penalty_value(0, 1.f / 32.f, &g2); break;
      case 13: penalty_backward(u, dgraw, au); break;
      case 14: saliency_map(map); saliency_backward(map); break;
    }
  }
}
