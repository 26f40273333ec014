import * as tf from '@tensorflow/tfjs';

/**
 * A fast Conv2DBackpropInput for the wasm backend, composed from its XNNPACK Conv2D (the backend's own
 * Conv2DBackpropInput is a plain loop, ~10x slower than the forward convolution). With
 * dy: [N,OH,OW,Co], W: [FH,FW,Ci,Co], stride s and top/left padding pt/pl,
 *   dx[n,h,w,ci] = sum_{a,b,co} dyd[n, h + pt - a, w + pl - b, co] * W[a,b,ci,co],
 * where dyd is dy with s-1 zeros between rows and columns. That is a 'valid' convolution of dyd, padded
 * by FH-1-pt on top (FW-1-pl left) and as needed below, with W flipped in space and its channel axes
 * swapped. Replaces the backend's kernel (same name), so tfjs's conv2d gradient uses it.
 */
export function registerConv2DBackpropInput(backendName: string): void {
  const kernel = (name: string) => {
    const k = tf.getKernel(name, backendName);
    if (!k) throw new Error(`backend ${backendName} lacks the ${name} kernel needed to compose Conv2DBackpropInput`);
    return k.kernelFunc as (args: any) => tf.TensorInfo;
  };
  const existing = tf.getKernel('Conv2DBackpropInput', backendName);
  if (existing && (existing as any).composedByLtl) return;
  const transpose = kernel('Transpose');
  const conv2d = kernel('Conv2D');
  const pad = kernel('PadV2');
  const reverse = kernel('Reverse');
  const reshape = kernel('Reshape');
  const slice = kernel('Slice');
  if (existing) tf.unregisterKernel('Conv2DBackpropInput', backendName);
  const config: tf.KernelConfig & { composedByLtl?: boolean } = {
    kernelName: 'Conv2DBackpropInput',
    backendName,
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
      const { strides, pad: padding, dataFormat, dimRoundingMode, inputShape } = attrs as any;
      if (dataFormat && dataFormat !== 'NHWC') throw new Error('Conv2DBackpropInput: only NHWC is supported');
      const [sh, sw] = typeof strides === 'number' ? [strides, strides] : strides;
      const [fh, fw, ci, co] = filter.shape;
      const info = tf.backend_util.computeConv2DInfo(
        inputShape, filter.shape as [number, number, number, number], [sh, sw], 1, padding, dimRoundingMode, false, 'channelsLast',
      );
      const [n, oh, ow] = dy.shape;
      const [, H, W] = inputShape as number[];
      const tmp: tf.TensorInfo[] = [];
      const keep = (t: tf.TensorInfo) => (tmp.push(t), t);
      // Zeros between rows and columns for strides > 1: [N,OH,1,OW,1,Co] padded to [N,OH,sh,OW,sw,Co].
      let d = dy;
      let dh = oh, dw = ow;
      if (sh > 1 || sw > 1) {
        const r = keep(reshape({ inputs: { x: dy }, backend, attrs: { shape: [n, oh, 1, ow, 1, co] } }));
        const p = keep(pad({ inputs: { x: r }, backend, attrs: { paddings: [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]], constantValue: 0 } }));
        d = keep(reshape({ inputs: { x: p }, backend, attrs: { shape: [n, oh * sh, ow * sw, co] } }));
        dh = oh * sh; dw = ow * sw; // trailing zero rows are harmless: cut or padded below
      }
      const top = fh - 1 - info.padInfo.top, left = fw - 1 - info.padInfo.left;
      let bottom = H + fh - 1 - top - dh, right = W + fw - 1 - left - dw;
      if (bottom < 0 || right < 0) {
        d = keep(slice({ inputs: { x: d }, backend, attrs: { begin: [0, 0, 0, 0], size: [n, dh + Math.min(0, bottom), dw + Math.min(0, right), co] } }));
        bottom = Math.max(0, bottom); right = Math.max(0, right);
      }
      if (top || bottom || left || right) {
        d = keep(pad({ inputs: { x: d }, backend, attrs: { paddings: [[0, 0], [top, bottom], [left, right], [0, 0]], constantValue: 0 } }));
      }
      const flipped = keep(reverse({ inputs: { x: filter }, backend, attrs: { dims: [0, 1] } }));
      const wt = keep(transpose({ inputs: { x: flipped }, backend, attrs: { perm: [0, 1, 3, 2] } }));
      void ci;
      const dx = conv2d({
        inputs: { x: d, filter: wt }, backend,
        attrs: { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', dilations: [1, 1], dimRoundingMode: undefined },
      });
      for (const t of tmp) if (t !== dy) (backend as any).disposeData(t.dataId);
      return dx;
    },
  };
  config.composedByLtl = true;
  tf.registerKernel(config);
}
