import type { Rng } from '../util/rng';
import { COUNTERFACTUAL_WASM_BASE64 } from './wasm/counterfactual-wasm';
import type { ColourSource } from './types';

/**
 * The training step's counterfactual batch in WebAssembly (wasm/counterfactual.c): the split's prepared images and
 * free regions are copied into the module's memory once; each step gathers the batch's rows there, redraws and
 * recolours the varied ones and copies the batch out. Same draws and same numbers, bit for bit, as gathering the rows
 * and calling applyCounterfactual (the TypeScript reference, which test/counterfactual.test.ts holds it to); about
 * ten times faster, which keeps an augmented step near a vanilla one (bench: the counterfactual rows).
 */
interface Exports {
  memory: WebAssembly.Memory;
  heap_base(): number;
  cf_batch(n: number, hw: number, split: number, regions: number, rows: number, donors: number, on: number, colours: number, flags: number, out: number): void;
}

let cachedModule: WebAssembly.Module | undefined;
const PAGE = 65536;
const align = (x: number, a = 16) => Math.ceil(x / a) * a;

export class CounterfactualBatcher {
  private readonly e: Exports;
  private readonly hw: number;
  private readonly row: number;
  private readonly at: { split: number; regions: number; rows: number; donors: number; on: number; colours: number; out: number };
  /** Views of the per-batch buffers (the memory does not grow after construction, so they stay valid). */
  private readonly view: { rows: Int32Array; donors: Int32Array; on: Uint8Array; colours: Float64Array; out: Float32Array };

  /**
   * `split`: the prepared images [count, size, size, 3]; `regions`: their free regions [count, size, size] (1: may be
   * redrawn), or none; `maxBatch`: the most images one call takes.
   */
  constructor(split: Float32Array, count: number, readonly size: number, private readonly regions: Uint8Array | undefined, readonly maxBatch: number) {
    if ((size * size) % 4 !== 0 || size * size > 4096) throw new Error(`the counterfactual batch step takes images of a multiple of 4 pixels, at most 4096, not ${size}x${size}`);
    if (!cachedModule) cachedModule = new WebAssembly.Module(Buffer.from(COUNTERFACTUAL_WASM_BASE64, 'base64'));
    this.e = new WebAssembly.Instance(cachedModule, {}).exports as unknown as Exports;
    this.hw = size * size;
    this.row = this.hw * 3;
    let p = align(this.e.heap_base());
    const take = (bytes: number) => { const at = p; p = align(p + bytes); return at; };
    this.at = {
      split: take(count * this.row * 4), regions: take(regions ? count * this.hw : 0),
      rows: take(maxBatch * 4), donors: take(maxBatch * 4), on: take(maxBatch), colours: take(maxBatch * 3 * 8), out: take(maxBatch * this.row * 4),
    };
    const need = Math.ceil(p / PAGE) - this.e.memory.buffer.byteLength / PAGE;
    if (need > 0) this.e.memory.grow(need);
    const buf = this.e.memory.buffer;
    this.view = {
      rows: new Int32Array(buf, this.at.rows, maxBatch), donors: new Int32Array(buf, this.at.donors, maxBatch), on: new Uint8Array(buf, this.at.on, maxBatch),
      colours: new Float64Array(buf, this.at.colours, 3 * maxBatch), out: new Float32Array(buf, this.at.out, maxBatch * this.row),
    };
    new Float32Array(this.e.memory.buffer, this.at.split, count * this.row).set(split.subarray(0, count * this.row));
    if (regions) new Uint8Array(this.e.memory.buffer, this.at.regions, count * this.hw).set(regions.subarray(0, count * this.hw));
  }

  /**
   * The batch of split rows `rows` into `out` [n, size, size, 3], each image varied with probability `share`. The
   * draws come from `rng` in applyCounterfactual's order (the donors, then per image: varied or not, its colour).
   * `swap`: a region is redrawn only where the donor's region is free too (applyCounterfactual's `swap`).
   */
  batch(rows: ArrayLike<number>, n: number, share: number, colours: ColourSource | undefined, rng: Rng, out: Float32Array, swap = false): void {
    out.set(this.batchView(rows, n, share, colours, rng, swap));
  }

  /** As batch(), but the images stay in the module's memory: a view valid until the next call (no copy; a training step
   * copies the batch into its engine anyway). */
  batchView(rows: ArrayLike<number>, n: number, share: number, colours: ColourSource | undefined, rng: Rng, swap = false): Float32Array {
    if (n > this.maxBatch) throw new Error(`a counterfactual batch holds at most ${this.maxBatch} images, got ${n}`);
    const { on, colours: col, rows: r, donors } = this.view;
    // the draws of batchDonors, then per image its share draw and its colour (applyCounterfactual's order)
    for (let k = 0; k < n; k++) donors[k] = rows[n > 1 ? (k + 1 + rng.int(n - 1)) % n : k];
    for (let k = 0; k < n; k++) {
      on[k] = rng.next() < share ? 1 : 0;
      if (colours) { const c = colours(rng); col[3 * k] = c[0]; col[3 * k + 1] = c[1]; col[3 * k + 2] = c[2]; }
    }
    for (let k = 0; k < n; k++) r[k] = rows[k];
    const flags = (this.regions ? 1 : 0) | (colours ? 2 : 0) | (this.regions && swap ? 4 : 0);
    this.e.cf_batch(n, this.hw, this.at.split, this.at.regions, this.at.rows, this.at.donors, this.at.on, this.at.colours, flags, this.at.out);
    return this.view.out.subarray(0, n * this.row);
  }
}
