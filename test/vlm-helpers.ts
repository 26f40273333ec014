import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { MapDefaults, TrainOptions } from '../lib/vlm/embedded';
import { DEFAULT_TRAIN_OPTIONS, saveCheckpoint, trainVlm } from '../lib/vlm/embedded';
import { initBackend } from '../lib/backend';
import { loadMnist } from '../lib/data';

/** A very small model and run, for fast tests of the embedded VLM's machinery (not of its quality). */
export const TINY_TRAIN: TrainOptions = {
  ...DEFAULT_TRAIN_OPTIONS,
  seed: 5, steps: 2, batch: 6,
  model: {
    image: { channels: [8], jointDim: 16, globalContext: true, coarse: [] },
    text: { vocabSize: 0, embedDim: 8, hiddenDim: 16, jointDim: 16 },
  },
};

/** Trains TINY_TRAIN and saves it as a checkpoint in a new temporary folder (its path). */
export async function tinyCheckpoint(prefix: string, mapDefaults: MapDefaults): Promise<string> {
  await initBackend();
  const r = await trainVlm(loadMnist().train, TINY_TRAIN);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  saveCheckpoint(dir, r.model, r.vocab, {
    createdAt: 'now', seed: 5, steps: 2, batch: 6, training: {}, backend: 'wasm', trainSeconds: 1, imagesPerSecond: 1, mapDefaults,
  });
  r.model.dispose();
  return dir;
}
