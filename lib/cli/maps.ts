import type { Command } from 'commander';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SingleBar, Presets } from 'cli-progress';
import { loadDataset, SPLITS, type SplitName } from '../data';
import { createGenerator, listGenerators, getGeneratorInfo, MAP_SOURCE } from '../maps/registry';
import { CachedMapSource } from '../maps/source';
import { mapQuality } from '../evaluate/map-quality';
import { MAP_FILE_KIND, quantizeMaps } from '../maps/store';
import { writePng } from '../util/png';
import { UserError } from '../util/errors';
import { checkFilesOfKind, PNG_FILE, prepareOutDir, prepareOutFile } from '../util/outputs';
import { printJson, printTable } from './output';
import { intOption, listOption, DATASET_HELP, MNIST_DIR_HELP } from './options';

export function register(program: Command): void {
  program
    .command('maps')
    .description('make attention maps for a dataset split with a generator, store them in one file, report their quality')
    .requiredOption('--dataset <name>', DATASET_HELP())
    .option('--split <split>', 'train | val | test', 'train')
    .requiredOption('--generator <name>', 'embedded | clipseg | oracle | uniform | random')
    .option('--prompt <text>', 'foreground prompt', 'a digit')
    .option('--allow-unknown-prompt', 'make maps even when the prompt has no word the model knows (default: refuse; such maps mean nothing)')
    .option('--background <list>', 'comma-separated background prompts, e.g. "background,black"')
    .option('--limit <n>', 'only the first N images of the split')
    .option('--model-dir <dir>', 'local model folder (clipseg: a transformers.js model folder; embedded: its checkpoint)')
    .option('--model-id <id>', 'clipseg model id (default Xenova/clipseg-rd64-refined)')
    .option('--mode <mode>', 'random: blobs | noise; oracle: --target instead')
    .option('--target <t>', 'oracle: digit | shortcut', 'digit')
    .option('--batch-size <n>', 'images per generator call')
    .option('--seed <n>', 'seed of random maps', '0')
    .requiredOption('--out <file>', 'map file to write (one binary file per split)')
    .option('--export-png <dir>', 'also write each map as an 8-bit grey PNG {index}.png')
    .option('--dilate <px>', 'digit-mask dilation radius for the quality metrics', '2')
    .option('--threshold <t>', 'map threshold for the IoU metric', '0.5')
    .option('--mnist-dir <dir>', MNIST_DIR_HELP)
    .option('--data-seed <n>', 'seed of the validation split and decoy positions', '37')
    .option('--json', 'print one JSON object as the last stdout line')
    .action(async (o) => {
      if (!SPLITS.includes(o.split)) throw new UserError(`--split must be one of ${SPLITS.join(', ')}, not '${o.split}'`);
      if (!listGenerators().includes(o.generator)) getGeneratorInfo(o.generator); // throws the 'unknown generator' UserError
      const limit = intOption(o.limit, '--limit', 1);
      const seed = intOption(o.seed, '--seed')!;
      const dilate = intOption(o.dilate, '--dilate')!;
      const batchSize = intOption(o.batchSize, '--batch-size', 1);
      const threshold = Number(o.threshold);
      if (!(threshold >= 0 && threshold <= 1)) throw new UserError(`--threshold must be in [0, 1], not '${o.threshold}'`);
      const background = listOption(o.background) ?? [];
      if (o.modelDir && !fs.existsSync(o.modelDir)) throw new UserError(`--model-dir ${o.modelDir} does not exist`);
      // Outputs are checked before any map is made.
      prepareOutFile(o.out, '--out', MAP_FILE_KIND);
      if (o.exportPng) prepareOutDir(o.exportPng, '--export-png');

      const ds = loadDataset(o.dataset, { dir: o.mnistDir, seed: intOption(o.dataSeed, '--data-seed') });
      const split = ds[o.split as SplitName];
      const n = Math.min(limit ?? split.count, split.count);
      if (o.exportPng) checkFilesOfKind(o.exportPng, Array.from({ length: n }, (_, i) => `${i}.png`), '--export-png', PNG_FILE);
      const generator = await createGenerator(o.generator, {
        modelDir: o.modelDir, modelId: o.modelId, seed, mode: o.mode, target: o.target,
        batchSize, allowUnknownPrompt: !!o.allowUnknownPrompt,
        warn: (m: string) => process.stderr.write(`ltl maps: warning: ${m}\n`),
      });
      try {
        const source = new CachedMapSource(generator, {
          split, dataset: ds.name, datasetChecksum: ds.checksum, prompt: o.prompt, background, seed,
          batchSize: batchSize ?? 256,
          extra: { limit: n, ...(o.modelDir ? { modelDir: path.resolve(o.modelDir) } : {}), ...(o.modelId ? { modelId: o.modelId } : {}), ...(o.generator === MAP_SOURCE.random ? { mode: o.mode ?? 'blobs' } : {}), ...(o.generator === MAP_SOURCE.oracle ? { target: o.target } : {}) },
        });
        const bar = new SingleBar({ format: `maps ${o.generator} [{bar}] {value}/{total} {eta_formatted}`, stream: process.stderr, hideCursor: false }, Presets.shades_classic);
        if (process.stderr.isTTY) bar.start(n, 0);
        const indices = Int32Array.from({ length: n }, (_, i) => i);
        const t0 = performance.now();
        const maps = await source.get(indices, (d) => { if (process.stderr.isTTY) bar.update(d); });
        const wallSeconds = (performance.now() - t0) / 1000;
        if (process.stderr.isTTY) bar.stop();
        source.flush(o.out);
        const fileBytes = fs.statSync(o.out).size;
        const quality = mapQuality(maps, split, { indices, dilate, threshold });
        let exported: number | undefined;
        if (o.exportPng) {
          const hw = maps.height * maps.width;
          const q = quantizeMaps(maps.data);
          for (let i = 0; i < n; i++) await writePng(path.join(o.exportPng, `${i}.png`), q.subarray(i * hw, (i + 1) * hw), maps.width, maps.height, 1);
          exported = n;
        }
        const st = source.stats;
        const result = {
          dataset: ds.name, split: o.split, generator: generator.name, prompt: generator.usesPrompt ? o.prompt : null,
          background: generator.usesPrompt ? background : null, count: n, shape: [maps.height, maps.width],
          out: o.out, fileBytes, bytesPerMap: st.bytesPerMap, fileBytesPerMap: fileBytes / n,
          mapsPerSecond: n / wallSeconds, generateSeconds: st.generateSeconds, quality,
          datasetChecksum: ds.checksum, ...(exported !== undefined ? { exportedPng: { dir: o.exportPng, count: exported } } : {}),
        };
        if (o.json) return printJson(result);
        console.log(`${n} ${o.split} maps of ${ds.name} by ${generator.name}${generator.usesPrompt ? ` (prompt ${JSON.stringify(o.prompt)}${background.length ? `, background ${background.join(', ')}` : ''})` : ''} -> ${o.out}`);
        console.log(`${st.bytesPerMap} bytes per map (${(fileBytes / n).toFixed(1)} with header), ${result.mapsPerSecond.toFixed(1)} maps/s`);
        printTable([{
          'digit mass': quality.digitMass, 'decoy mass': quality.decoyMass ?? '-', IoU: quality.iou,
          'uniform digit mass': quality.uniformDigitMass, 'uniform decoy mass': quality.uniformDecoyMass ?? '-', 'empty maps': quality.emptyMaps,
        }]);
        if (exported !== undefined) console.log(`exported ${exported} PNGs to ${o.exportPng}`);
      } finally {
        generator.dispose?.();
      }
    });
}
