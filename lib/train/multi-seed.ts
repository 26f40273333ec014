import * as path from 'node:path';
import type { TrainConfig } from './config';
import { runTraining, type RunOptions, type TrainResult } from './trainer';

export interface SeedSummary {
  seeds: number[];
  runs: TrainResult[];
  /** mean and sample std (n-1) over seeds. */
  testAccSelected: { mean: number; std: number };
  testAccFinal: { mean: number; std: number };
  valAccSelected: { mean: number; std: number };
}

export function meanStd(xs: number[]): { mean: number; std: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const std = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, std };
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
