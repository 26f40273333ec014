import * as tf from '@tensorflow/tfjs';

/**
 * Conv2DBackpropFilter for backends that lack it (the wasm backend), composed from the backend's
 * own Transpose, Pad and Conv2D kernels. With x: [N,H,W,Ci] and dy: [N,OH,OW,Co],
 *   dW[a,b,ci,co] = sum_{n,i,j} x[n, s*i + a, s*j + b, ci] * dy[n,i,j,co],
 * which is a 'valid' convolution of x^T = [Ci,H,W,N] (batch Ci, channels N) with the filter
 * dy^T = [OH,OW,N,Co] dilated by the stride s, giving [Ci,FH,FW,Co]; one more transpose gives dW.
 */
export function registerConv2DBackpropFilter(backendName: string): void {
  if (tf.getKernel('Conv2DBackpropFilter', backendName)) return;
  const kernel = (name: string) => {
    const k = tf.getKernel(name, backendName);
    if (!k) throw new Error(`backend ${backendName} lacks the ${name} kernel needed to compose Conv2DBackpropFilter`);
    return k.kernelFunc as (args: any) => tf.TensorInfo;
  };
  const transpose = kernel('Transpose');
  const conv2d = kernel('Conv2D');
  const pad = kernel('PadV2');
  tf.registerKernel({
    kernelName: 'Conv2DBackpropFilter',
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
      const { strides, pad: padding, dataFormat, dimRoundingMode, filterShape } = attrs as any;
      if (dataFormat && dataFormat !== 'NHWC') throw new Error('Conv2DBackpropFilter: only NHWC is supported');
      const [fh, fw] = filterShape as [number, number, number, number];
      const [sh, sw] = typeof strides === 'number' ? [strides, strides] : strides;
      const info = tf.backend_util.computeConv2DInfo(
        x.shape as [number, number, number, number], filterShape, [sh, sw], 1, padding, dimRoundingMode, false, 'channelsLast',
      );
      const disposables: tf.TensorInfo[] = [];
      let xin = x;
      const { top, bottom, left, right } = info.padInfo;
      if (top || bottom || left || right) {
        xin = pad({ inputs: { x }, backend, attrs: { paddings: [[0, 0], [top, bottom], [left, right], [0, 0]], constantValue: 0 } });
        disposables.push(xin);
      }
      const xt = transpose({ inputs: { x: xin }, backend, attrs: { perm: [3, 1, 2, 0] } });
      const dyt = transpose({ inputs: { x: dy }, backend, attrs: { perm: [1, 2, 0, 3] } });
      disposables.push(xt, dyt);
      let out = conv2d({
        inputs: { x: xt, filter: dyt }, backend,
        attrs: { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', dilations: [sh, sw], dimRoundingMode: undefined },
      });
      // The padded input may extend past the last filter tap when (H + pads - FH) is not a multiple of the stride.
      if (out.shape[1] !== fh || out.shape[2] !== fw) {
        const slice = kernel('Slice');
        const sliced = slice({ inputs: { x: out }, backend, attrs: { begin: [0, 0, 0, 0], size: [out.shape[0], fh, fw, out.shape[3]] } });
        disposables.push(out);
        out = sliced;
      }
      const dw = transpose({ inputs: { x: out }, backend, attrs: { perm: [1, 2, 0, 3] } });
      disposables.push(out);
      for (const t of disposables) (backend as any).disposeData(t.dataId);
      return dw;
    },
  });
}
