import type { ShortcutDataset } from '../../data/types';
import { loadDataset } from '../../data';
import { modelGrid, modelInputSize } from '../../models';
import { UserError } from '../../util/errors';
import type { TrainConfig } from '../config';
import { prepareImages, prepareLabels } from '../data';

/** The run's images and labels on the model's input grid, made once (the first N of each split). */
export interface RunData {
  ds: ShortcutDataset;
  /** The model's input side and attention grid. */
  size: number;
  grid: { height: number; width: number };
  nTrain: number;
  nVal: number;
  nTest: number;
  trainX: Float32Array;
  trainY: Int32Array;
  valX: Float32Array;
  valY: Int32Array;
  testX: Float32Array;
  testY: Int32Array;
}

/**
 * Stage 2, the data: the dataset given (checked against the config: data seed, shortcut labels) or loaded, and its
 * first --limit training and --eval-limit validation and test images as the model's input.
 */
export function prepareData(config: TrainConfig, given: ShortcutDataset | undefined, mnistDir: string | undefined): RunData {
  const ds = given ?? loadDataset(config.dataset, { dir: mnistDir, seed: config.dataSeed, shortcutLabels: config.shortcutLabels });
  if (given && ds.seed !== config.dataSeed) throw new UserError(`the dataset given was built with data seed ${ds.seed}, the config says ${config.dataSeed}`);
  if (given && (ds.shortcutLabels ?? 'class') !== config.shortcutLabels) throw new UserError(`the dataset given has shortcut labels '${ds.shortcutLabels ?? 'class'}', the config says '${config.shortcutLabels}'`);
  const size = modelInputSize(config.model);
  const grid = modelGrid(config.model);
  const nTrain = Math.min(config.limit ?? ds.train.count, ds.train.count);
  const nVal = Math.min(config.evalLimit ?? ds.val.count, ds.val.count);
  const nTest = Math.min(config.evalLimit ?? ds.test.count, ds.test.count);
  if (nVal === 0) throw new UserError(`dataset ${ds.name} has no validation images: model selection needs a validation split`);
  return {
    ds, size, grid, nTrain, nVal, nTest,
    trainX: prepareImages(ds.train, nTrain, size), trainY: prepareLabels(ds.train, nTrain),
    valX: prepareImages(ds.val, nVal, size), valY: prepareLabels(ds.val, nVal),
    testX: prepareImages(ds.test, nTest, size), testY: prepareLabels(ds.test, nTest),
  };
}
