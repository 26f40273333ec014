/*
 * CDEP in the fused kernel (#included by lenet_gap.c, which defines the parameters, the per-step weight layouts W1r
 * and W2T, the gradient accumulators dW1a / dW2s and the penalty inputs pmask / pen / pen_flags).
 *
 * The contextual decomposition of LeNet-GAP and CDEP's score on it, written from lib/losses/cdep.ts (the reference,
 * which this follows rule by rule, and whose tfjs autodiff these gradients match, test/engines-fused-cdep.test.ts):
 *  - an input split x = rel + irr: the 'mask' region rel = w x + (1 - w) x C per pixel (w the per-pixel weights in
 *    pmask when the penalty has its per-pixel term, else 0; C the penalty's global 3x3 matrix, else 0), or, for the
 *    'pixels' region, one split per drawn pixel (rel = x at that pixel, all channels; 0 elsewhere); irr = x - rel;
 *  - conv / dense: each stream without the bias, the bias split by p = |W rel| / (|W rel| + |W irr|) (the
 *    denominator floored at 1e-12), and for a dead unit (both exactly 0) by the layer input's share
 *    t = sum|rel| / (sum|rel| + sum|irr|) (1/2 when both are 0);
 *  - ReLU: rel' = relu(rel), irr' = relu(rel + irr) - rel';
 *  - 2x2 max pool: both streams at the first position where rel' + irr' is the window's maximum;
 *  - global average pool: each stream;
 *  - score: the mean over classes of sigmoid(rel - irr) of the logits' parts.
 * The backward pass is the reverse of exactly these operations with tfjs's conventions where they matter: d|a|/da = 1
 * for a > 0 and -1 otherwise (tfjs's Abs gradient, -1 at 0 included), relu' = 1 for a > 0 only, max(tot, 1e-12)
 * passes its gradient to tot when tot >= 1e-12, a dead unit's share passes its gradient to t (and t on to the layer
 * input's magnitudes; the input split's t has no parameter behind it), pooling positions are constants.
 *
 * Per image this is one decomposition (mask) or one per drawn pixel. The mask's is the dense two-stream forward (convs
 * vectorised over output columns / channels; rows of a stream that are all zero, e.g. the relevant stream outside a
 * decoy patch, are skipped) and a backward that touches only the pooled positions; the pixels' share what does not
 * depend on the pixel (px_begin, below).
 */
#define MODE_CDEP 6
#define CDEP_MAXPIX 64

int cdep_pix[CDEP_MAXPIX]; /* 'pixels' region: the step's drawn pixel indices (y * 32 + x), the same for every image */
static int cdep_npix;      /* 0: the 'mask' region; else how many of cdep_pix to use */

static float cd_r0[3072 + 16], cd_i0[3072 + 16]; /* the input split, HWC (+16: the backward reads 16-float rows) */
static float cd_pr[3 * 1024], cd_pi[3 * 1024];   /* the same, planar [ci][32 * 32], for conv1 */
static unsigned char cd_nzr[96], cd_nzi[96];     /* per planar row (ci * 32 + y): has a nonzero */
static float cd_a1r[6 * 784], cd_a1i[6 * 784];   /* conv1 of each stream without bias, planar [co][28 * 28] */
static float cd_h1r[1176 + 8], cd_h1i[1176 + 8]; /* pooled layer-1 streams, HWC [14][14][6] (+8: 32-float patch rows) */
static float cd_g1r[1176 + 8], cd_g1i[1176 + 8]; /* their gradients */
static unsigned short cd_q1[1176];               /* per pooled unit: its routed position in the 28x28 map */
static float cd_p1[1176];                        /* the bias share there */
static unsigned char cd_f1[1176];                /* bit 0: rel before the ReLU > 0; bit 1: rel + irr > 0; bit 2: dead */
static unsigned char cd_row1r[14], cd_row1i[14]; /* h1 rows with a nonzero */
static float cd_a2r[1600], cd_a2i[1600];         /* conv2 of each stream without bias, [100][16] */
static unsigned char cd_q2[400];                 /* per pooled unit (cell * 16 + co): routed position 0..99 */
static float cd_p2[400];
static unsigned char cd_f2[400];
static float cd_lr[10], cd_li[10];               /* the logits' parts of the last decomposition */

/* The pixel region's fast path. Every drawn pixel's split shares its image: irr = x - rel with rel one pixel, so the
 * irrelevant stream's bias-free conv1 is the image's conv1 minus the pixel's, and outside the pixel's 5x5 footprint
 * (rel exactly 0 there: its bias share is 0 unless the unit is dead) layer 1 is the same for every pixel. px_begin
 * computes that once per image; each pixel then recomputes only the pooled units its footprint reaches (and dead
 * ones, whose share depends on the split), takes conv2 of the irrelevant stream as the image's conv2 minus the
 * relevant stream's (linearity), and leaves conv1's weight gradient of the irrelevant stream, x times the summed
 * output gradients, to px_end. The same rules as cd_split; the values differ from it in float rounding only. */
static float px_A1[6 * 784];        /* conv1 of the image, no bias, planar [co][28 * 28] */
static float px_h1[1176];           /* layer 1's irrelevant stream with nothing relevant: pooled relu(A1 + b) */
static float px_p1[1176];
static unsigned short px_q1[1176];
static unsigned char px_f1[1176];
static unsigned char px_row1[14];
static float px_H[1176 + 8];        /* the image's own layer-1 output, rel + irr of every split (up to rounding) */
static float px_A2[1600];           /* conv2 of px_H, no bias, [100][16] */
static float px_G1[6 * 784];        /* the irrelevant stream's conv1 output gradients, summed over the image's pixels */
static unsigned short px_dead[1176];/* pooled units with a dead position (both parts exactly 0) */
static int px_ndead;
static float px_absx;               /* sum of |x| over the image */
static int px_y, px_x;              /* the current pixel */

static inline float cd_abs(float v) { return __builtin_fabsf(v); }
/* tfjs's Abs gradient: step(x, -1) */
static inline float cd_sgn(float v) { return v > 0.f ? 1.f : -1.f; }

/* share(a, b, tie) of cdep.ts for magnitudes a, b: tie where a + b == 0, else a / max(a + b, 1e-12) */
static inline float cd_share(float a, float b, float tie) {
  float tot = a + b;
  if (tot == 0.f) return tie;
  return a / (tot >= 1e-12f ? tot : 1e-12f);
}

/* Its backward for a live unit (a + b != 0): d share into *da, *db. */
static inline void cd_share_back(float a, float b, float dp, float *da, float *db) {
  float tot = a + b, m = tot >= 1e-12f ? tot : 1e-12f;
  float dm = -dp * a / (m * m);
  *da = dp / m;
  *db = 0.f;
  if (tot >= 1e-12f) { *da += dm; *db = dm; }
}

/* One unit: bias split and the ReLU rule. ar, ai: the bias-free parts; b: the bias; t: the dead units' share.
 * Returns rel' and irr' in *ro, *io, the share in *pp and the flags (see cd_f1). */
static inline int cd_unit(float ar, float ai, float b, float t, float *ro, float *io, float *pp) {
  float a = cd_abs(ar), c = cd_abs(ai);
  int dead = a + c == 0.f;
  float p = cd_share(a, c, t);
  float rp = ar + p * b, ip = ai + (1.f - p) * b;
  float s = rp + ip;
  float r = rp > 0.f ? rp : 0.f, rs = s > 0.f ? s : 0.f;
  *ro = r;
  *io = rs - r;
  *pp = p;
  return (rp > 0.f ? 1 : 0) | (s > 0.f ? 2 : 0) | (dead ? 4 : 0);
}

/* Backward of cd_unit for gradients gr, gi of rel', irr': d ar, d ai into *dar, *dai; the bias gradient added to *db,
 * a dead unit's share gradient to *dt. */
static inline void cd_unit_back(float gr, float gi, int fl, float ar, float ai, float p, float b, float *dar, float *dai, float *db, float *dt) {
  float rpos = (fl & 1) ? 1.f : 0.f, spos = (fl & 2) ? 1.f : 0.f;
  float drp = (gr - gi) * rpos + gi * spos, dip = gi * spos;
  *db += p * drp + (1.f - p) * dip;
  float dp = b * drp - b * dip;
  float xr = drp, xi = dip;
  if (fl & 4) {
    *dt += dp;
  } else {
    float da, dc;
    cd_share_back(cd_abs(ar), cd_abs(ai), dp, &da, &dc);
    xr += da * cd_sgn(ar);
    xi += dc * cd_sgn(ai);
  }
  *dar = xr;
  *dai = xi;
}

/* conv1 without bias of a planar stream: out[co][y][x] (28x28), rows of the input that are all zero skipped */
static void cd_conv1(const float *in, const unsigned char *nz, float *out) {
  for (int co = 0; co < 6; co++) {
    const float *w = W1r + co * 75;
    for (int y = 0; y < 28; y++) {
      V a[7];
      for (int j = 0; j < 7; j++) a[j] = SPLAT(0.f);
      for (int ci = 0; ci < 3; ci++)
        for (int ky = 0; ky < 5; ky++) {
          if (!nz[ci * 32 + y + ky]) continue;
          const float *row = in + ci * 1024 + (y + ky) * 32;
          for (int kx = 0; kx < 5; kx++) {
            V wv = SPLAT(w[ci * 25 + ky * 5 + kx]);
            for (int j = 0; j < 7; j++) a[j] = MADD(a[j], wv, LD(row + kx + 4 * j));
          }
        }
      float *o = out + co * 784 + y * 28;
      for (int j = 0; j < 7; j++) ST(o + 4 * j, a[j]);
    }
  }
}

/* conv2 without bias of an HWC 14x14x6 stream into [100][16], rows of the input that are all zero skipped */
static void cd_conv2(const float *src, const unsigned char *rows, float *out) {
  const float *w2 = params + OFF_W2;
  for (int y = 0; y < 10; y++)
    for (int x = 0; x < 10; x += 2) {
      V a0[4], a1[4];
      for (int k = 0; k < 4; k++) { a0[k] = SPLAT(0.f); a1[k] = SPLAT(0.f); }
      for (int ky = 0; ky < 5; ky++) {
        if (!rows[y + ky]) continue;
        const float *seg = src + ((y + ky) * 14 + x) * 6;
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
      float *o = out + (y * 10 + x) * 16;
      for (int k = 0; k < 4; k++) { ST(o + 4 * k, a0[k]); ST(o + 16 + 4 * k, a1[k]); }
    }
}

static float cd_rest(float coef, int pixel);

/* One pooled unit u = (r * 14 + c) * 6 + co of layer 1 (cd_pool4 over cd_a1r / cd_a1i); sets its row flags. */
/* One 2x2 max-pool window of a conv layer's bias-free streams ar / ai, its top-left position p0 in a map `width`
 * wide, element (position * pstride + off): the bias split and ReLU rule at each position, both streams at the first
 * position where their sum is the window's maximum. Returns the flags; the parts, share and position in the rest. */
static inline int cd_pool4(const float *ar, const float *ai, int p0, int width, int pstride, int off, float b, float t,
                           float *bro, float *bio, float *bp, int *bq) {
  const int pos[4] = { p0, p0 + 1, p0 + width, p0 + width + 1 };
  float best = 0.f;
  int bf = 0;
  *bro = 0.f; *bio = 0.f; *bp = 0.f; *bq = 0;
  for (int k = 0; k < 4; k++) {
    float ro, io, pp;
    int fl = cd_unit(ar[pos[k] * pstride + off], ai[pos[k] * pstride + off], b, t, &ro, &io, &pp);
    float s = ro + io;
    if (k == 0 || s > best) { best = s; *bro = ro; *bio = io; *bp = pp; *bq = pos[k]; bf = fl; }
  }
  return bf;
}

static void cd_pool1(int u, float t1) {
  const int co = u % 6, cell = u / 6, r = cell / 14, c = cell - r * 14;
  float bro, bio, bp;
  int bq;
  const int bf = cd_pool4(cd_a1r, cd_a1i, (2 * r) * 28 + 2 * c, 28, 1, co * 784, params[OFF_B1 + co], t1, &bro, &bio, &bp, &bq);
  cd_h1r[u] = bro; cd_h1i[u] = bio; cd_p1[u] = bp; cd_q1[u] = (unsigned short)bq; cd_f1[u] = (unsigned char)bf;
  if (bro != 0.f) cd_row1r[r] = 1;
  if (bio != 0.f) cd_row1i[r] = 1;
}

/* One decomposition of the split in cd_r0 / cd_i0: returns the mean over classes of sigmoid(rel - irr) and adds coef
 * times the gradient of that sum over classes / 10 to the parameters' accumulators. */
static float cd_split(float coef) {
  /* ---- layer 1 */
  float sr = 0.f, si = 0.f;
  for (int i = 0; i < 3072; i++) { sr += cd_abs(cd_r0[i]); si += cd_abs(cd_i0[i]); }
  const float t1 = cd_share(sr, si, 0.5f);
  for (int i = 0; i < 96; i++) { cd_nzr[i] = 0; cd_nzi[i] = 0; }
  for (int q = 0; q < 1024; q++)
    for (int ci = 0; ci < 3; ci++) {
      float r = cd_r0[q * 3 + ci], v = cd_i0[q * 3 + ci];
      cd_pr[ci * 1024 + q] = r;
      cd_pi[ci * 1024 + q] = v;
      if (r != 0.f) cd_nzr[ci * 32 + (q >> 5)] = 1;
      if (v != 0.f) cd_nzi[ci * 32 + (q >> 5)] = 1;
    }
  cd_conv1(cd_pr, cd_nzr, cd_a1r);
  cd_conv1(cd_pi, cd_nzi, cd_a1i);
  for (int i = 0; i < 14; i++) { cd_row1r[i] = 0; cd_row1i[i] = 0; }
  for (int u = 0; u < 1176; u++) cd_pool1(u, t1);
  for (int i = 1176; i < 1184; i++) { cd_h1r[i] = 0.f; cd_h1i[i] = 0.f; }
  return cd_rest(coef, 0);
}

/* Everything after layer 1 of a decomposition whose layer-1 streams are in cd_h1r / cd_h1i (with cd_a1r / cd_a1i,
 * cd_p1, cd_q1, cd_f1 and the row flags): layer 2, the dense layer, the score and, unless coef is 0, the backward.
 * pixel: the pixel region's fast path (cdep_pixels): conv2 of the irrelevant stream as the image's conv2 minus the
 * relevant stream's, and conv1's weight gradient of the irrelevant stream left to px_end. */
static float cd_rest(float coef, int pixel) {
  /* ---- layer 2 */
  float s1r = 0.f, s1i = 0.f;
  for (int i = 0; i < 1176; i++) { s1r += cd_abs(cd_h1r[i]); s1i += cd_abs(cd_h1i[i]); }
  const float t2 = cd_share(s1r, s1i, 0.5f);
  cd_conv2(cd_h1r, cd_row1r, cd_a2r);
  if (pixel) {
    /* conv2 is linear and rel + irr is the image's own layer-1 output (up to rounding in the pixel's footprint) */
    for (int i = 0; i < 1600; i += 4) ST(cd_a2i + i, wasm_f32x4_sub(LD(px_A2 + i), LD(cd_a2r + i)));
  } else {
    cd_conv2(cd_h1i, cd_row1i, cd_a2i);
  }
  float gr[16], gi[16];
  for (int c = 0; c < 16; c++) { gr[c] = 0.f; gi[c] = 0.f; }
  for (int r = 0; r < 5; r++)
    for (int c = 0; c < 5; c++)
      for (int co = 0; co < 16; co++) {
        float bro, bio, bp;
        int bq;
        const int bf = cd_pool4(cd_a2r, cd_a2i, (2 * r) * 10 + 2 * c, 10, 16, co, params[OFF_B2 + co], t2, &bro, &bio, &bp, &bq);
        const int u = (r * 5 + c) * 16 + co;
        cd_p2[u] = bp; cd_q2[u] = (unsigned char)bq; cd_f2[u] = (unsigned char)bf;
        gr[co] += bro; gi[co] += bio;
      }
  /* ---- global average pool, dense */
  float s2r = 0.f, s2i = 0.f;
  for (int c = 0; c < 16; c++) { gr[c] /= 25.f; gi[c] /= 25.f; s2r += cd_abs(gr[c]); s2i += cd_abs(gi[c]); }
  const float t3 = cd_share(s2r, s2i, 0.5f);
  const float *wf = params + OFF_WF, *bfv = params + OFF_BF;
  float dr[10], di[10], p3[10], lr[10], li[10];
  for (int k = 0; k < 10; k++) {
    float a = 0.f, e = 0.f;
    for (int c = 0; c < 16; c++) { a += gr[c] * wf[c * 10 + k]; e += gi[c] * wf[c * 10 + k]; }
    dr[k] = a; di[k] = e;
    p3[k] = cd_share(cd_abs(a), cd_abs(e), t3);
    lr[k] = a + p3[k] * bfv[k];
    li[k] = e + (1.f - p3[k]) * bfv[k];
    cd_lr[k] = lr[k]; cd_li[k] = li[k];
  }
  /* ---- score and its gradient on the logits' parts */
  float score = 0.f, glr[10], gli[10];
  for (int k = 0; k < 10; k++) {
    float sg = 1.f / (1.f + my_exp(li[k] - lr[k]));
    score += sg;
    glr[k] = coef * 0.1f * sg * (1.f - sg);
    gli[k] = -glr[k];
  }
  score *= 0.1f;
  if (coef == 0.f) return score;
  /* ---- dense backward */
  float *dwf = grads + OFF_WF, *dbf = grads + OFF_BF;
  float ddr[10], ddi[10], dt3 = 0.f;
  for (int k = 0; k < 10; k++) {
    dbf[k] += p3[k] * glr[k] + (1.f - p3[k]) * gli[k];
    float dp = bfv[k] * glr[k] - bfv[k] * gli[k];
    ddr[k] = glr[k]; ddi[k] = gli[k];
    if (cd_abs(dr[k]) + cd_abs(di[k]) == 0.f) {
      dt3 += dp;
    } else {
      float da, dc;
      cd_share_back(cd_abs(dr[k]), cd_abs(di[k]), dp, &da, &dc);
      ddr[k] += da * cd_sgn(dr[k]);
      ddi[k] += dc * cd_sgn(di[k]);
    }
  }
  float dgr[16], dgi[16];
  for (int c = 0; c < 16; c++) {
    float a = 0.f, e = 0.f;
    for (int k = 0; k < 10; k++) {
      dwf[c * 10 + k] += gr[c] * ddr[k] + gi[c] * ddi[k];
      a += wf[c * 10 + k] * ddr[k];
      e += wf[c * 10 + k] * ddi[k];
    }
    dgr[c] = a; dgi[c] = e;
  }
  if (dt3 != 0.f && s2r + s2i != 0.f) {
    float da, dc;
    cd_share_back(s2r, s2i, dt3, &da, &dc);
    for (int c = 0; c < 16; c++) { dgr[c] += da * cd_sgn(gr[c]); dgi[c] += dc * cd_sgn(gi[c]); }
  }
  /* ---- layer 2 backward: GAP, pool, ReLU rule, bias split; conv2's weight and input gradients */
  const V zero = SPLAT(0.f);
  for (int i = 0; i < 1184; i += 4) { ST(cd_g1r + i, zero); ST(cd_g1i + i, zero); }
  float dt2 = 0.f;
  float *db2 = grads + OFF_B2;
  for (int u = 0; u < 400; u++) {
    const int co = u & 15, q = cd_q2[u];
    const float g_r = dgr[co] / 25.f, g_i = dgi[co] / 25.f;
    if (g_r == 0.f && g_i == 0.f) continue;
    const float ar = cd_a2r[q * 16 + co], ai = cd_a2i[q * 16 + co];
    float dar, dai;
    cd_unit_back(g_r, g_i, cd_f2[u], ar, ai, cd_p2[u], params[OFF_B2 + co], &dar, &dai, &db2[co], &dt2);
    if (dar == 0.f && dai == 0.f) continue;
    const int py = q / 10, px = q - py * 10;
    V vr = SPLAT(dar), vi = SPLAT(dai);
    for (int ky = 0; ky < 5; ky++) {
      const int off = ((py + ky) * 14 + px) * 6;
      const float *wt = W2T + (ky * 16 + co) * 32;
      float *dw = dW2s + (co * 5 + ky) * 32;
      for (int k = 0; k < 8; k++) {
        V w = LD(wt + 4 * k);
        ST(dw + 4 * k, MADD(MADD(LD(dw + 4 * k), vr, LD(cd_h1r + off + 4 * k)), vi, LD(cd_h1i + off + 4 * k)));
        ST(cd_g1r + off + 4 * k, MADD(LD(cd_g1r + off + 4 * k), vr, w));
        ST(cd_g1i + off + 4 * k, MADD(LD(cd_g1i + off + 4 * k), vi, w));
      }
    }
  }
  if (dt2 != 0.f && s1r + s1i != 0.f) {
    float da, dc;
    cd_share_back(s1r, s1i, dt2, &da, &dc);
    for (int i = 0; i < 1176; i++) { cd_g1r[i] += da * cd_sgn(cd_h1r[i]); cd_g1i[i] += dc * cd_sgn(cd_h1i[i]); }
  }
  /* ---- layer 1 backward: pool, ReLU rule, bias split; conv1's weight gradient (the input split has no
   * parameters behind it, so its share t1 and the input's gradient are not needed) */
  float *db1 = grads + OFF_B1, dt1 = 0.f;
  for (int u = 0; u < 1176; u++) {
    const float g_r = cd_g1r[u], g_i = cd_g1i[u];
    if (g_r == 0.f && g_i == 0.f) continue;
    const int co = u % 6, q = cd_q1[u];
    float dar, dai;
    cd_unit_back(g_r, g_i, cd_f1[u], cd_a1r[co * 784 + q], cd_a1i[co * 784 + q], cd_p1[u], params[OFF_B1 + co], &dar, &dai, &db1[co], &dt1);
    if (dar == 0.f && dai == 0.f) continue;
    const int py = q / 28, px = q - py * 28;
    if (pixel) {
      /* irr = x - rel: dai x (x's window) is the same product for every pixel of the image, summed in px_G1 and
       * applied once by px_end; here only (dar - dai) rel, where the window holds the pixel */
      px_G1[co * 784 + q] += dai;
      const int ky = px_y - py, kx = px_x - px;
      if (ky >= 0 && ky < 5 && kx >= 0 && kx < 5) {
        float *a = dW1a + co * 80 + ky * 16 + kx * 3;
        for (int c = 0; c < 3; c++) a[c] += (dar - dai) * cd_r0[3 * (px_y * 32 + px_x) + c];
      }
      continue;
    }
    V vr = SPLAT(dar), vi = SPLAT(dai);
    float *acc = dW1a + co * 80;
    for (int ky = 0; ky < 5; ky++) {
      const int off = ((py + ky) * 32 + px) * 3;
      float *a = acc + ky * 16;
      for (int k = 0; k < 4; k++) ST(a + 4 * k, MADD(MADD(LD(a + 4 * k), vr, LD(cd_r0 + off + 4 * k)), vi, LD(cd_i0 + off + 4 * k)));
    }
  }
  return score;
}

/* Loads image n's mask-region split into cd_r0 / cd_i0: rel = w x + (1 - w) x C per pixel, irr = x - rel. */
static void cd_load_split(int n) {
  const float *x = xin + n * 3072;
  const float *w = pmask + n * 1024;
  const int hasS = pen_flags & 1, hasC = pen_flags & 2;
  const float *C = pen + 9; /* row-major: colour c = sum_k x_k C[k][c] (x @ C, as cdep.ts maskedRelevant) */
  for (int q = 0; q < 1024; q++) {
    const float wq = hasS ? w[q] : 0.f;
    const float *xq = x + 3 * q;
    for (int c = 0; c < 3; c++) {
      float col = hasC ? xq[0] * C[c] + xq[1] * C[3 + c] + xq[2] * C[6 + c] : 0.f;
      float r = wq * xq[c] + (1.f - wq) * col;
      cd_r0[3 * q + c] = r;
      cd_i0[3 * q + c] = xq[c] - r;
    }
  }
}

/* The pixel region, per image n: cd_i0 = x, cd_r0 = 0, and what every pixel's split shares (see px_A1). */
static void px_begin(int n) {
  const float *x = xin + n * 3072;
  float sx = 0.f;
  for (int i = 0; i < 3072; i++) { cd_r0[i] = 0.f; cd_i0[i] = x[i]; sx += cd_abs(x[i]); }
  for (int i = 3072; i < 3072 + 16; i++) { cd_r0[i] = 0.f; cd_i0[i] = 0.f; }
  px_absx = sx;
  for (int i = 0; i < 96; i++) cd_nzi[i] = 0;
  for (int q = 0; q < 1024; q++)
    for (int ci = 0; ci < 3; ci++) {
      float v = x[q * 3 + ci];
      cd_pi[ci * 1024 + q] = v;
      if (v != 0.f) cd_nzi[ci * 32 + (q >> 5)] = 1;
    }
  cd_conv1(cd_pi, cd_nzi, px_A1);
  for (int i = 0; i < 6 * 784; i++) { cd_a1r[i] = 0.f; cd_a1i[i] = px_A1[i]; px_G1[i] = 0.f; }
  /* layer 1 with nothing relevant (the share argument is unused: a unit with a dead position is recomputed per pixel) */
  for (int i = 0; i < 14; i++) { cd_row1r[i] = 0; cd_row1i[i] = 0; }
  px_ndead = 0;
  for (int u = 0; u < 1176; u++) {
    cd_pool1(u, 0.5f);
    const int co = u % 6, cell = u / 6, p0 = (cell / 14) * 56 + (cell % 14) * 2;
    if (px_A1[co * 784 + p0] == 0.f || px_A1[co * 784 + p0 + 1] == 0.f || px_A1[co * 784 + p0 + 28] == 0.f || px_A1[co * 784 + p0 + 29] == 0.f)
      px_dead[px_ndead++] = (unsigned short)u;
  }
  /* (a dead unit's parts are t b and (1 - t) b for any t: their sum, what conv2's linearity needs, is the same) */
  unsigned char rows[14];
  for (int i = 0; i < 14; i++) rows[i] = 0;
  for (int u = 0; u < 1176; u++) {
    px_h1[u] = cd_h1i[u]; px_p1[u] = cd_p1[u]; px_q1[u] = cd_q1[u]; px_f1[u] = cd_f1[u];
    px_H[u] = cd_h1r[u] + cd_h1i[u];
    if (px_H[u] != 0.f) rows[u / 84] = 1;
  }
  for (int i = 0; i < 14; i++) px_row1[i] = cd_row1i[i];
  for (int i = 1176; i < 1184; i++) { cd_h1r[i] = 0.f; cd_h1i[i] = 0.f; px_H[i] = 0.f; }
  cd_conv2(px_H, rows, px_A2);
}

/* Restores pooled unit u of layer 1 to the image's (nothing relevant). */
static inline void px_restore1(int u) {
  cd_h1r[u] = 0.f; cd_h1i[u] = px_h1[u]; cd_p1[u] = px_p1[u]; cd_q1[u] = px_q1[u]; cd_f1[u] = px_f1[u];
}

/* One drawn pixel's split of the image px_begin loaded: the same as cd_load_split's pixel split then cd_split. */
static float px_split(int pixel, float coef) {
  const int y = pixel >> 5, x = pixel & 31;
  px_y = y; px_x = x;
  float xr[3], sr = 0.f;
  for (int c = 0; c < 3; c++) { xr[c] = cd_i0[3 * pixel + c]; sr += cd_abs(xr[c]); }
  for (int c = 0; c < 3; c++) { cd_r0[3 * pixel + c] = xr[c]; cd_i0[3 * pixel + c] = 0.f; }
  const float t1 = cd_share(sr, px_absx - sr, 0.5f);
  /* conv1 outputs (oy, ox) the pixel reaches: oy in [y - 4, y], ox in [x - 4, x], within the 28 x 28 map */
  const int y0 = y - 4 > 0 ? y - 4 : 0, y1 = y < 27 ? y : 27, x0 = x - 4 > 0 ? x - 4 : 0, x1 = x < 27 ? x : 27;
  for (int co = 0; co < 6; co++)
    for (int oy = y0; oy <= y1; oy++)
      for (int ox = x0; ox <= x1; ox++) {
        const float *w = W1r + co * 75 + (y - oy) * 5 + (x - ox);
        const float a = w[0] * xr[0] + w[25] * xr[1] + w[50] * xr[2];
        cd_a1r[co * 784 + oy * 28 + ox] = a;
        cd_a1i[co * 784 + oy * 28 + ox] = px_A1[co * 784 + oy * 28 + ox] - a;
      }
  /* the pooled units over that footprint, and the dead ones; the row flags of both streams */
  for (int i = 0; i < 14; i++) { cd_row1r[i] = 0; cd_row1i[i] = px_row1[i]; }
  const int r0 = y0 >> 1, r1 = y1 >> 1, c0 = x0 >> 1, c1 = x1 >> 1;
  if (y0 <= y1 && x0 <= x1)
    for (int r = r0; r <= r1; r++)
      for (int c = c0; c <= c1; c++)
        for (int co = 0; co < 6; co++) cd_pool1((r * 14 + c) * 6 + co, t1);
  for (int k = 0; k < px_ndead; k++) cd_pool1(px_dead[k], t1);
  const float score = cd_rest(coef, 1);
  /* back to the image's state for the next pixel */
  for (int co = 0; co < 6; co++)
    for (int oy = y0; oy <= y1; oy++)
      for (int ox = x0; ox <= x1; ox++) { cd_a1r[co * 784 + oy * 28 + ox] = 0.f; cd_a1i[co * 784 + oy * 28 + ox] = px_A1[co * 784 + oy * 28 + ox]; }
  if (y0 <= y1 && x0 <= x1)
    for (int r = r0; r <= r1; r++)
      for (int c = c0; c <= c1; c++)
        for (int co = 0; co < 6; co++) px_restore1((r * 14 + c) * 6 + co);
  for (int k = 0; k < px_ndead; k++) px_restore1(px_dead[k]);
  for (int c = 0; c < 3; c++) { cd_i0[3 * pixel + c] = xr[c]; cd_r0[3 * pixel + c] = 0.f; }
  return score;
}

/* After an image's pixels: conv1's weight gradient of the irrelevant stream, x's windows times the summed gradients
 * (cd_i0 holds x again). */
static void px_end(void) {
  for (int co = 0; co < 6; co++) {
    float *acc = dW1a + co * 80;
    for (int q = 0; q < 784; q++) {
      const float g = px_G1[co * 784 + q];
      if (g == 0.f) continue;
      const int py = q / 28, px = q - py * 28;
      V vg = SPLAT(g);
      for (int ky = 0; ky < 5; ky++) {
        const int off = ((py + ky) * 32 + px) * 3;
        float *a = acc + ky * 16;
        for (int k = 0; k < 4; k++) ST(a + 4 * k, MADD(LD(a + 4 * k), vg, LD(cd_i0 + off + 4 * k)));
      }
    }
  }
}

/* CDEP's term of image n: the score of its split (mask region) or the sum of the scores of the drawn pixels'
 * splits; the gradients of coef times that go into the accumulators (coef = lambda / B). */
static float cdep_image(int n, float coef) {
  if (!cdep_npix) {
    cd_load_split(n);
    return cd_split(coef);
  }
  px_begin(n);
  float s = 0.f;
  for (int k = 0; k < cdep_npix; k++) s += px_split(cdep_pix[k], coef);
  if (coef != 0.f) px_end();
  return s;
}

/* The decomposition alone (tests): for B images in xin, the logits' relevant parts then their irrelevant parts,
 * image n at cdep_parts + 20 n; the mask region's split, or the first drawn pixel's. */
float cdep_parts[MAXB * 20];
EXPORT void cdep_decompose(int B) {
  prepare_weights();
  for (int n = 0; n < B; n++) {
    if (cdep_npix) {
      px_begin(n);
      px_split(cdep_pix[0], 0.f);
    } else {
      cd_load_split(n);
      cd_split(0.f);
    }
    for (int k = 0; k < 10; k++) { cdep_parts[n * 20 + k] = cd_lr[k]; cdep_parts[n * 20 + 10 + k] = cd_li[k]; }
  }
}
EXPORT float *ptr_cdep_parts(void) { return cdep_parts; }

EXPORT int *ptr_cdep_pix(void) { return cdep_pix; }
EXPORT int max_cdep_pixels(void) { return CDEP_MAXPIX; }
EXPORT void set_cdep_npix(int n) { cdep_npix = n < 0 ? 0 : n > CDEP_MAXPIX ? CDEP_MAXPIX : n; }
