import type { TrainOptions } from '../lib/maps/embedded';
import { DEFAULT_TRAIN_OPTIONS } from '../lib/maps/embedded';

/** A very small model and run, for fast tests of the embedded VLM's machinery (not of its quality). */
export const TINY_TRAIN: TrainOptions = {
  ...DEFAULT_TRAIN_OPTIONS,
  seed: 5, steps: 2, batch: 6,
  model: {
    image: { channels: [8], jointDim: 16, globalContext: true, coarse: [] },
    text: { vocabSize: 0, embedDim: 8, hiddenDim: 16, jointDim: 16 },
  },
};
