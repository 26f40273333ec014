import * as tf from '@tensorflow/tfjs';
import type { ImageSplit } from '../../data/types';
import type { VlmModel } from './model';

/**
 * A run of images as the VLM encodes them: the split's uint8 HWC bytes of the selected images, back to back.
 * It is what a worker thread receives and what the patch cache is keyed on (an image's patch embeddings
 * depend on its bytes and the model only, whatever batch it is encoded in).
 */
export interface ImageBlock {
  readonly count: number;
  readonly height: number;
  readonly width: number;
  readonly channels: 1 | 3;
  /** count * height * width * channels, uint8. */
  readonly bytes: Uint8Array;
}

/** The selected images of a split as one block (a copy). */
export function gatherBlock(split: ImageSplit, idx: ArrayLike<number>): ImageBlock {
  const { height: H, width: W, channels: C } = split;
  const per = H * W * C;
  const bytes = new Uint8Array(idx.length * per);
  for (let k = 0; k < idx.length; k++) bytes.set(split.images.subarray(idx[k] * per, (idx[k] + 1) * per), k * per);
  return { count: idx.length, height: H, width: W, channels: C, bytes };
}

/** Images [from, to) of a block, as a block (a view, no copy). */
export function sliceBlock(b: ImageBlock, from: number, to: number): ImageBlock {
  const per = b.height * b.width * b.channels;
  return { count: to - from, height: b.height, width: b.width, channels: b.channels, bytes: b.bytes.subarray(from * per, to * per) };
}

/** A block as the float RGB tensor [n, H, W, 3] the image encoder takes (grey images repeated on 3 channels). */
export function blockTensor(b: ImageBlock): tf.Tensor4D {
  const { count: n, height: H, width: W, channels: C, bytes } = b;
  const out = new Float32Array(n * H * W * 3);
  if (C === 3) {
    out.set(bytes);
  } else {
    for (let p = 0, q = 0; p < n * H * W; p++, q += 3) out[q] = out[q + 1] = out[q + 2] = bytes[p];
  }
  return tf.tensor4d(out, [n, H, W, 3]);
}

/** Floats of one image's patch embeddings: (H/2) * (W/2) * the joint width. */
export function patchFloats(model: VlmModel, height: number, width: number): number {
  return (height / 2) * (width / 2) * model.config.image.jointDim;
}

/**
 * The normalised patch embeddings [n, H/2, W/2, D] of a block, flat, computed on this thread's tfjs backend
 * in one forward pass. The prompt-independent (and expensive) part of a map.
 */
export function encodeBlock(model: VlmModel, b: ImageBlock): Float32Array {
  const p = tf.tidy(() => model.encodePatches(blockTensor(b)));
  try {
    return p.dataSync() as Float32Array;
  } finally {
    p.dispose();
  }
}
