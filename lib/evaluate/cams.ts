import * as tf from '@tensorflow/tfjs';
import type { ImageSplit } from '../data/types';
import type { MapBatch } from '../maps/types';
import { createModel, initialWeights, modelInputSize } from '../models';
import { createAttention } from '../attention';
import { readCheckpoint } from '../train/checkpoint';
import { runWeightsFile } from '../train/run-folder';
import { prepareImages } from '../train/data';
import type { TrainConfig } from '../train/config';
import { subsetSplit } from '../data/subset';

export { subsetSplit };

/**
 * The attention maps (CAM by default: what the paper aligns) of a model on some images of a split,
 * for the true class, on the model's attention grid. `weights` null = the untrained initialisation
 * ("before"); otherwise the weights of a finished run folder ("after": its validation-selected epoch unless
 * `epoch: 'final'`).
 */
export function attentionMaps(
  config: Pick<TrainConfig, 'model' | 'seed'>,
  weights: 'initial' | { runDir: string; epoch?: 'selected' | 'final' },
  split: ImageSplit,
  indices: ArrayLike<number>,
  method = 'cam',
): MapBatch {
  let w = initialWeights(config.model, config.seed);
  if (weights !== 'initial') {
    // the validation-selected epoch's weights (what the tables report) unless 'final'
    w = readCheckpoint(runWeightsFile(weights.runDir, weights.epoch)).state.weights as typeof w;
  }
  const model = createModel(config.model, config.seed, w);
  const size = modelInputSize(config.model);
  const sub = subsetSplit(split, indices);
  try {
    return tf.tidy(() => {
      const x = tf.tensor4d(prepareImages(sub, sub.count, size), [sub.count, size, size, 3]);
      const labels = tf.tensor1d(Int32Array.from(sub.labels), 'int32');
      const forward = model.forward(x, { secondOrder: method !== 'cam' });
      const maps = createAttention(method).map({ model, x, labels, forward, training: false });
      const [count, height, width] = maps.shape;
      return { count, height, width, data: maps.dataSync() as Float32Array };
    });
  } finally {
    model.dispose();
  }
}
