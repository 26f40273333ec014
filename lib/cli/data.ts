import type { Command } from 'commander';
import { loadDataset, SPLITS, exportSplitPngs, type SplitName } from '../data';
import { UserError } from '../util/errors';
import { prepareOutDir } from '../util/outputs';
import { printJson, printTable } from './output';
import { intOption, DATASET_HELP, MNIST_DIR_HELP } from './options';

export function register(program: Command): void {
  program
    .command('data')
    .description('build a shortcut dataset; print split sizes, label counts and checksum; optionally export PNGs')
    .requiredOption('--dataset <name>', DATASET_HELP())
    .option('--mnist-dir <dir>', MNIST_DIR_HELP)
    .option('--data-seed <n>', 'seed of the validation split and decoy positions', '37')
    .option('--export <dir>', 'write images as {index}_{label}.png')
    .option('--split <split>', 'split to export: train | val | test', 'train')
    .option('--limit <n>', 'export only the first N images of the split')
    .option('--json', 'print one JSON object as the last stdout line')
    .action(async (o) => {
      const seed = intOption(o.dataSeed, '--data-seed')!;
      if (o.export) {
        if (!SPLITS.includes(o.split)) throw new UserError(`--split must be one of ${SPLITS.join(', ')}`);
        prepareOutDir(o.export, '--export');
      }
      const ds = loadDataset(o.dataset, { dir: o.mnistDir, seed });
      const labelCounts: Record<string, number[]> = {};
      for (const s of SPLITS) {
        const counts = new Array(ds.classes.length).fill(0);
        for (const l of ds[s].labels) counts[l]++;
        labelCounts[s] = counts;
      }
      let exported: string[] | undefined;
      if (o.export) {
        if (!SPLITS.includes(o.split)) throw new UserError(`--split must be one of ${SPLITS.join(', ')}`);
        exported = await exportSplitPngs(ds[o.split as SplitName], o.export, intOption(o.limit, '--limit'));
      }
      const result = {
        dataset: ds.name, base: ds.base, shortcut: ds.shortcut, dataSeed: ds.seed,
        splits: { train: ds.train.count, val: ds.val.count, test: ds.test.count },
        shape: [ds.train.height, ds.train.width, ds.train.channels],
        labelCounts, checksum: ds.checksum,
        ...(exported ? { exported: { dir: o.export, split: o.split, count: exported.length } } : {}),
      };
      if (o.json) return printJson(result);
      console.log(`${ds.name}: ${ds.base} + ${ds.shortcut} rule, images ${result.shape.join('x')}, data seed ${ds.seed}`);
      printTable(SPLITS.map((s) => ({ split: s, images: ds[s].count, ...Object.fromEntries(labelCounts[s].map((c, i) => [`y=${i}`, c])) })));
      console.log(`checksum ${ds.checksum}`);
      if (exported) console.log(`exported ${exported.length} PNGs of ${o.split} to ${o.export}`);
    });
}
