import assert from 'node:assert/strict';
import { PARAM_ORDER, PARAM_COUNT } from '../lib/engines/fused/kernel';
import { createRng, type Rng } from '../lib/util/rng';

/** Shared test data of the fused-kernel tests (engines-fused-*.test.ts). */

/** LeNet-GAP weights, flat in PARAM_ORDER, uniform in +-1/sqrt(fan-in), from the seeded stream `label:seed`. */
export function makeWeights(label: string, seed: number): Float32Array {
  const rng = createRng(`${label}:${seed}`);
  const fanIn = [75, 75, 150, 150, 16, 16];
  const out = new Float32Array(PARAM_COUNT);
  let o = 0;
  PARAM_ORDER.forEach((p, i) => {
    const n = p.shape.reduce((a, b) => a * b, 1);
    for (let k = 0; k < n; k++) out[o + k] = (rng.next() * 2 - 1) / Math.sqrt(fanIn[i]);
    o += n;
  });
  return out;
}

/** Draws image i's coloured blob (radius 4 .. 4 + radiusSpread - 1) into 32x32x3 images on a -1 background. */
export function drawBlob(rng: Rng, images: Float32Array, i: number, radiusSpread: number): void {
  const cy = 8 + rng.int(16), cx = 8 + rng.int(16), r = 4 + rng.int(radiusSpread);
  const col = [rng.next(), rng.next(), rng.next()];
  for (let y = 0; y < 32; y++)
    for (let x = 0; x < 32; x++) {
      const d = Math.hypot(y - cy, x - cx);
      if (d < r) for (let c = 0; c < 3; c++) images[i * 3072 + (y * 32 + x) * 3 + c] = -1 + 2 * col[c] * (1 - d / (r + 1)) + 0.1 * rng.next();
    }
}

/** Per parameter array of the kernel's layout: max |got - ref| relative to max |ref| is under tol. */
export function assertClose(got: Float32Array, ref: Float32Array, tol: number, what: string): void {
  let off = 0;
  for (const p of PARAM_ORDER) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    let d = 0, m = 0;
    for (let i = off; i < off + n; i++) { d = Math.max(d, Math.abs(got[i] - ref[i])); m = Math.max(m, Math.abs(ref[i])); }
    const e = d / Math.max(m, 1e-12);
    assert.ok(e < tol, `${what} ${p.name}: relative error ${e.toExponential(2)} >= ${tol} (max |ref| ${m.toExponential(2)})`);
    off += n;
  }
}
