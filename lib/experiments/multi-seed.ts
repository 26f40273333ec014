import * as path from 'node:path';
import type { TrainConfig } from '../train/config';
import { runTraining, type RunOptions, type TrainResult } from '../train/trainer';
import { meanStd } from '../util/stats';
import '../vlm/register'; // the VLM map sources (embedded, clipseg) a config may name

export interface SeedSummary {
  seeds: number[];
  runs: TrainResult[];
  /** mean and sample std (n-1) over seeds. */
  testAccSelected: { mean: number; std: number; n: number };
  testAccFinal: { mean: number; std: number; n: number };
  valAccSelected: { mean: number; std: number; n: number };
}

/** Runs the same config with several seeds (each in outDir/seed-S when outDir is given). */
export async function runSeeds(config: Partial<TrainConfig>, seeds: number[], opts: RunOptions = {}): Promise<SeedSummary> {
  const runs: TrainResult[] = [];
  for (const seed of seeds) {
    runs.push(await runTraining({ ...config, seed }, { ...opts, outDir: opts.outDir ? path.join(opts.outDir, `seed-${seed}`) : undefined }));
  }
  return {
    seeds, runs,
    testAccSelected: meanStd(runs.map((r) => r.testAccSelected)),
    testAccFinal: meanStd(runs.map((r) => r.testAccFinal)),
    valAccSelected: meanStd(runs.map((r) => r.valAccSelected)),
  };
}
