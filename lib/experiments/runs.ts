import type { ShortcutDataset } from '../data/types';
import { runTraining, resolveConfig, selectionSummary, TrainingDiverged, type TrainConfig, type TrainResult } from '../train';
import { loadDataset } from '../data';
import { progress } from '../report/progress';
import { dataCacheDir } from '../report/paths';
import { readRunEpochs } from '../train/run-folder';
import { runFolder } from './cache';
import { measureLooks } from './measurements';
import type { AblationRun, AblationSpec, FinishedRun, RunSpec } from './run-types';
import '../vlm/register'; // the VLM map sources (embedded, clipseg) the recipes train with

/** Training the notebooks' runs: each once (its run folder is named by its config), one after the other. */

/** Loads datasets by name (the shared dataset cache), as a record by name. */
export function loadDatasets(names: readonly string[]): Record<string, ShortcutDataset> {
  return Object.fromEntries([...new Set(names)].map((n) => [n, loadDataset(n, { cacheDir: dataCacheDir() })]));
}

/** Trains (or reuses: the run folder is named by the config) one run, with a progress line. */
export async function trainCached(spec: RunSpec, dataset?: ShortcutDataset): Promise<FinishedRun> {
  const config = resolveConfig(spec.config);
  const dir = runFolder('train', config);
  const bar = progress(`${spec.label} (${config.dataset}, seed ${config.seed})`, { minIntervalMs: 1000 });
  try {
    const result = await runTraining(config, {
      outDir: dir, dataset,
      onBatch: (done, total, epoch) => bar.update(epoch * total + done, total * config.epochs, `epoch ${epoch + 1}/${config.epochs}`),
    });
    bar.done(`test acc at the validation-selected epoch ${(100 * result.testAccSelected).toFixed(1)} %`);
    return { label: spec.label, config, dir, result };
  } catch (e) {
    // A diverged run is a result (this setting is unstable), not a broken notebook: report it with
    // the epochs it completed. Anything else is an error.
    if (!(e instanceof TrainingDiverged)) throw e;
    const partial = partialResult(config, dir);
    if (!partial) throw e;
    const msg = e.message;
    bar.done(`DIVERGED after ${partial.epochs.length} epoch(s): ${msg.split(';')[0]}`);
    return { label: spec.label, config, dir, result: partial, diverged: msg };
  }
}

/**
 * The completed epochs of a run folder as a result (selection among them, on validation), read from
 * its checkpoint (checksummed; the epochs.jsonl log is for people, never read back).
 */
export function partialResult(config: TrainConfig, dir: string): TrainResult | undefined {
  const epochs = readRunEpochs(dir);
  if (!epochs?.length) return undefined;
  return {
    config, ...selectionSummary(epochs, config.select), epochs,
    imagesPerSecond: epochs.reduce((a, e) => a + e.imagesPerSecond, 0) / epochs.length,
    trainSeconds: epochs.reduce((a, e) => a + e.seconds, 0),
  } as TrainResult;
}

/** Trains runs one after the other (two cores: never in parallel), then measures where each net looks on test images. */
export async function trainAll(specs: readonly RunSpec[], datasets: Record<string, ShortcutDataset> = {}): Promise<FinishedRun[]> {
  const out: FinishedRun[] = [];
  for (const s of specs) {
    const name = s.config.dataset ?? resolveConfig(s.config).dataset;
    const ds = (datasets[name] ??= loadDataset(name, { cacheDir: dataCacheDir() }));
    const run = await trainCached(s, ds);
    run.looks = measureLooks(run, ds);
    out.push(run);
  }
  return out;
}

export async function trainAblations(specs: readonly AblationSpec[], datasets: Record<string, ShortcutDataset> = {}): Promise<AblationRun[]> {
  const runs = await trainAll(specs, datasets);
  return runs.map((r, i) => ({ ...r, factor: specs[i].factor, value: specs[i].value }));
}

/** Runs with distinct run folders (the default point appears under every factor). */
export function distinctRuns<T extends FinishedRun>(runs: readonly T[]): T[] {
  const seen = new Set<string>();
  return runs.filter((r) => (seen.has(r.dir) ? false : (seen.add(r.dir), true)));
}
