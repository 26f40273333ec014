import * as tf from '@tensorflow/tfjs';

/**
 * Wraps the wasm backend's BatchMatMul so that transposed operands are transposed explicitly first: its
 * transposeA/transposeB paths are ~10x slower than a Transpose plus a plain product, and every matMul
 * gradient uses them. Results are the same products, summed in the plain kernel's order.
 */
export function registerFastBatchMatMul(backendName: string): void {
  const existing = tf.getKernel('BatchMatMul', backendName);
  if (!existing || (existing as any).composedByLtl) return;
  const transposeK = tf.getKernel('Transpose', backendName);
  if (!transposeK) throw new Error(`backend ${backendName} lacks the Transpose kernel`);
  const plain = existing.kernelFunc as (args: any) => tf.TensorInfo;
  const transpose = transposeK.kernelFunc as (args: any) => tf.TensorInfo;
  tf.unregisterKernel('BatchMatMul', backendName);
  const swapLast = (t: tf.TensorInfo, backend: unknown) => {
    const r = t.shape.length;
    const perm = [...Array(r).keys()];
    [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
    return transpose({ inputs: { x: t }, backend, attrs: { perm } });
  };
  const config: tf.KernelConfig & { composedByLtl?: boolean } = {
    kernelName: 'BatchMatMul',
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
      if (!transposeA && !transposeB) return plain({ inputs, backend, attrs });
      const at = transposeA ? swapLast(a, backend) : a;
      const bt = transposeB ? swapLast(b, backend) : b;
      const out = plain({ inputs: { a: at, b: bt }, backend, attrs: { ...attrs, transposeA: false, transposeB: false } });
      if (at !== a) (backend as any).disposeData(at.dataId);
      if (bt !== b) (backend as any).disposeData(bt.dataId);
      return out;
    },
  };
  config.composedByLtl = true;
  tf.registerKernel(config);
}
