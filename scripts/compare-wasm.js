// Compares fused-kernel builds (.wasm files) on the same 2,048 ColorMNIST images with fixed weights and no
// update (so every build does the same work): CPU-time images/s, best of 3, for align, CE-only and eval.
// Usage (after npm run build): node scripts/compare-wasm.js A.wasm B.wasm ...
const fs = require('fs');
const { prepareImages } = require('../dist/lib/train/data');
const { loadMnist } = require('../dist/lib/data/bases/mnist');
const { COLOR_PALETTE } = require('../dist/lib/data/shortcuts/color');
const base = loadMnist().train; const N = 2048;
const img = new Uint8Array(N * 784 * 3);
for (let i = 0; i < N; i++) for (let p = 0; p < 784; p++) for (let c = 0; c < 3; c++) img[(i * 784 + p) * 3 + c] = Math.min(255, Math.floor(base.images[i * 784 + p] * COLOR_PALETTE[base.labels[i]][c]));
const X = prepareImages({ count: N, height: 28, width: 28, channels: 3, images: img }, N, 32);
const Y = Int32Array.from(base.labels.subarray(0, N));
(async () => {
  const res = {};
  for (const rep of [0, 1, 2]) for (const f of process.argv.slice(2)) {
    const e = (await WebAssembly.instantiate(fs.readFileSync(f), {})).instance.exports;
    const m = new Float32Array(e.memory.buffer);
    const P = e.ptr_params() / 4; for (let i = 0; i < 3042; i++) m[P + i] = Math.sin(i * 12.9898) * 0.1;
    const T = e.ptr_target() / 4; for (let i = 0; i < 3200; i++) m[T + i] = 0.01;
    const L = new Int32Array(e.memory.buffer, e.ptr_labels(), 32);
    const run = (align, evalOnly) => { const c0 = process.cpuUsage(); for (let s = 0; s + 32 <= N; s += 32) { m.set(X.subarray(s * 3072, (s + 32) * 3072), e.ptr_x() / 4); L.set(Y.subarray(s, s + 32)); if (evalOnly) e.eval_batch(32, 0, 1); else e.train_step(32, align ? 160 : 0, 1, 1, align); } const c = process.cpuUsage(c0); return N / ((c.user + c.system) / 1e6); };
    run(1, 0);
    const r = { align: run(1, 0), vanilla: run(0, 0), eval: run(0, 1) };
    (res[f] ??= []).push(r);
  }
  for (const [f, rs] of Object.entries(res)) console.log(f, ['align', 'vanilla', 'eval'].map((k) => k + ' ' + Math.max(...rs.map((r) => r[k])).toFixed(0)).join('  '), '(cpu-time img/s, best of 3, fixed weights, no update)');
})();
