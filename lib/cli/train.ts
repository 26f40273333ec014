import type { Command } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { runTraining, type TrainConfig } from '../train';
import { printJson, printTable } from './output';
import { prepareOutDir, removeIfEmpty } from '../util/outputs';
import { DATASET_HELP, MNIST_DIR_HELP, numberParser as num } from './options';

const pct = (x: number) => `${(100 * x).toFixed(2)} %`;

export function register(program: Command): void {
  program
    .command('train')
    .description('train a CNN on a shortcut dataset: vanilla, attention alignment (the paper) or RRR; resumable with --out')
    .requiredOption('--dataset <name>', DATASET_HELP())
    .requiredOption('--out <dir>', 'run folder: config.json, epochs.jsonl, checkpoint.bin, result.json (rerun to resume)')
    .option('--method <m>', 'vanilla | align | rrr', 'align')
    .option('--model <m>', 'lenet-gap (the paper\'s, 32x32) | cdep (CDEP\'s CNN, 28x28)')
    .option('--attention <a>', 'cam | gradcam | inputgrad (default: cam for lenet-gap, gradcam for cdep)')
    .option('--loss <l>', 'kl (paper: min-max + softmax) | kl-dist (ReLU + sum-normalise)')
    .option('--temperature <t>', 'softmax temperature of the kl loss (paper: 1)', num('--temperature'))
    .option('--maps <src>', 'oracle | uniform | random | embedded | clipseg | FILE (a map file from `ltl maps`); default oracle, embedded when a prompt is given (generated maps are cached under data/cache/maps)')
    .option('--postprocess <p>', 'target chain: paper (outline band) | raw (area-resize + normalise)')
    .option('--map-threshold <t>', 'threshold of the paper chain', num('--map-threshold'))
    .option('--rrr-mode <m>', 'spatial (decoy-patch mask) | colour (default for colour datasets) | prompt (default when a prompt is given: masks from the prompts\' maps)')
    .option('--prompt <text>', 'positive prompt, where the evidence is ("a digit"): rrr prompt mode penalises input gradients off its map; align uses its maps as targets; any method records the validation excluded share')
    .option('--negative-prompt <text>', 'where the evidence must not come from ("a square"): input gradients on its map are penalised (repeatable)', (v: string, acc: string[] = []) => [...acc, v])
    .option('--attribute-prompt <text>', 'an attribute the model must not read, with optional context ("colour of a digit"), or its value words ("red,green,blue"): a 3x3 matrix of input directions from the embedded VLM (cached under data/cache/attributes)')
    .option('--prompt-threshold <t>', 'prompt masks: map threshold (default 0.5)', num('--prompt-threshold'))
    .option('--prompt-mass <p>', 'prompt masks: the positive region is the smallest set of map pixels holding this share of the map\'s mass (instead of --prompt-threshold)', num('--prompt-mass'))
    .option('--prompt-dilate <px>', 'prompt masks: dilation radius of the positive region, in map pixels (default 2)', num('--prompt-dilate'))
    .option('--negative-dilate <px>', 'prompt masks: dilation radius of negative regions (default 1)', num('--negative-dilate'))
    .option('--attribute-form <f>', 'moment (C = M / lambda_max, the VLM\'s graded matrix) | free-axis (I - v v^T, v its least direction) (default moment)')
    .option('--lambda <l>', 'lambda0 (default 160; rrr: 1000; rrr prompt mode: 10)', num('--lambda'))
    .option('--attention-epoch <a>', 'A: epoch the combined loss starts (default 11)', num('--attention-epoch'))
    .option('--phase1 <p>', 'ce | attention: the loss before epoch A', undefined)
    .option('--epochs <n>', 'epochs (default 30)', num('--epochs'))
    .option('--seed <n>', 'training seed (default 37)', num('--seed'))
    .option('--data-seed <n>', 'dataset seed: validation split, decoy positions (default 37)', num('--data-seed'))
    .option('--optimizer <o>', 'sgd | adam')
    .option('--lr <x>', 'learning rate (default 1e-3)', num('--lr'))
    .option('--momentum <x>', 'SGD momentum (default 0.98)', num('--momentum'))
    .option('--weight-decay <x>', 'L2 weight decay (default 1e-4)', num('--weight-decay'))
    .option('--lr-step <n>', 'StepLR step in epochs (default 7)', num('--lr-step'))
    .option('--lr-gamma <x>', 'StepLR gamma (default 0.1)', num('--lr-gamma'))
    .option('--batch <n>', 'batch size (default 32)', num('--batch'))
    .option('--limit <n>', 'train on the first N training images', num('--limit'))
    .option('--eval-limit <n>', 'evaluate on the first N validation and test images', num('--eval-limit'))
    .option('--select <s>', 'val-acc | val-score | val-rr (val acc x (1 - validation excluded share), needs prompts): what picks the reported epoch (validation only)')
    .option('--engine <e>', 'compute engine: auto (the fused WebAssembly step for lenet-gap: vanilla, align with cam/gradcam/inputgrad + the paper KL, rrr in every mode; SGD or Adam; else tfjs), fused, tfjs (default auto)')
    .option('--mnist-dir <dir>', MNIST_DIR_HELP)
    .option('--json', 'print result.json as the last stdout line')
    .option('--no-progress', 'no progress bar')
    .action(async (o) => {
      const config: Partial<TrainConfig> = {
        dataset: o.dataset, dataSeed: o.dataSeed, method: o.method, model: o.model, attention: o.attention, loss: o.loss,
        temperature: o.temperature, maps: o.maps, postprocess: o.postprocess, mapThreshold: o.mapThreshold, rrrMode: o.rrrMode,
        prompt: o.prompt, negativePrompts: o.negativePrompt, attributePrompt: o.attributePrompt, promptThreshold: o.promptThreshold, promptMass: o.promptMass,
        promptDilate: o.promptDilate, negativeDilate: o.negativeDilate, attributeForm: o.attributeForm,
        lambda: o.lambda, attentionEpoch: o.attentionEpoch, phase1: o.phase1, epochs: o.epochs, seed: o.seed,
        optimizer: o.optimizer, lr: o.lr, momentum: o.momentum, weightDecay: o.weightDecay, lrStep: o.lrStep, lrGamma: o.lrGamma,
        batch: o.batch, limit: o.limit, evalLimit: o.evalLimit, select: o.select, engine: o.engine,
      };
      const bar = o.progress && process.stderr.isTTY
        ? new SingleBar({ format: 'epoch {epoch} [{bar}] {value}/{total} img {eta_formatted}', stream: process.stderr, hideCursor: false, etaBuffer: 200 }, Presets.shades_classic)
        : undefined;
      let started = false;
      let barEpoch = -1;
      // The run folder must be writable before any data is loaded; a failed start leaves no new folder behind.
      const { created } = prepareOutDir(o.out, '--out');
      const result = await runTraining(config, {
        outDir: o.out, mnistDir: o.mnistDir,
        log: (m) => process.stderr.write(`ltl train: ${m}\n`),
        onBatch: (done, total, epoch) => {
          if (!bar) return;
          if (epoch !== barEpoch) {
            if (started) bar.stop();
            bar.start(total, 0, { epoch });
            started = true;
            barEpoch = epoch;
          }
          if (done === total || done % 640 < 32) bar.update(done, { epoch });
        },
        onEpoch: (r, n) => {
          if (bar && started) { bar.stop(); started = false; barEpoch = -1; }
          process.stderr.write(`epoch ${r.epoch + 1}/${n} ${r.phase} lambda ${Number(r.lambda.toPrecision(4))} lr ${r.lr.toExponential(1)} loss ${r.loss.toFixed(4)} ce ${r.ce.toFixed(4)} att ${r.att.toFixed(4)} val ${pct(r.valAcc)}${r.valExcludedShare != null ? ` excluded ${pct(r.valExcludedShare)}` : ''} test ${pct(r.testAcc)} (${r.seconds.toFixed(1)} s, ${r.imagesPerSecond.toFixed(0)} img/s)\n`);
        },
      }).catch((e) => {
        if (created) removeIfEmpty(o.out);
        throw e;
      }).finally(() => { if (bar && started) bar.stop(); });
      if (o.json) return printJson(result);
      printTable(result.epochs.map((e) => ({
        epoch: e.epoch + 1, phase: e.phase, lambda: e.lambda, loss: e.loss, ce: e.ce, att: e.att,
        val: pct(e.valAcc), test: pct(e.testAcc), seconds: e.seconds,
      })));
      console.log(`selected epoch ${result.selectedEpoch + 1} by ${result.selectBy}: val ${pct(result.valAccSelected)}, test ${pct(result.testAccSelected)}; final epoch test ${pct(result.testAccFinal)}`);
      console.log(`${result.imagesPerSecond.toFixed(0)} training images/s on ${result.backend} (${result.engine} engine); run folder ${o.out}`);
    });
}
