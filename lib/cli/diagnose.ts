import type { Command } from 'commander';
import { SPLITS, type SplitName } from '../data';
import {
  diagnoseCheckpoint, diagnoseRun, diagnosisJson, checkAttribution, ATTRIBUTIONS, ATTRIBUTION_ABOUT, DEFAULT_ATTRIBUTION, DIAGNOSIS_DEFAULTS,
  DIAGNOSIS_MASKS, type AttributionName, type Diagnosis,
} from '../diagnose';
import { diagnosisExamplesPng, diagnosisRows } from '../report/diagnosis-figure';
import { writeFileAtomic } from '../util/atomic';
import { UserError } from '../util/errors';
import { PNG_FILE, prepareOutFile, removeIfEmpty } from '../util/outputs';
import type { MaskSettings } from '../train/prompt-constraint';
import { printJson } from './output';
import { textTable } from '../report/table';
import { intOption, pngFileOption, DATASET_HELP, MNIST_DIR_HELP } from './options';

export function register(program: Command): void {
  program
    .command('diagnose')
    .description('which prompt a trained net reads: for each candidate prompt, how often its prediction changes when what the prompt names is redrawn from another image (against the same redraw from an image of the same class, and a random region of equal area), and the energy of its input gradients there, or of another --attribution (against the region\'s area); ranked, with a verdict (docs/diagnose.md)')
    .option('--run <dir>', 'a run folder (ltl train --out): its validation-selected weights, on the data it was trained on')
    .option('--model <file>', 'a bare checkpoint file (selected.safetensors) instead of --run; needs --dataset')
    .option('--dataset <name>', `with --model: ${DATASET_HELP()}`)
    .option('--data-seed <n>', 'with --model: seed of the validation split and decoy positions (default 37)')
    .option('--prompts <text...>', 'region prompts, e.g. "a digit" "a frame" "a square" (maps from --maps)')
    .option('--attribute-prompts <text...>', 'attribute prompts, e.g. "colour" (input directions and colours from the embedded VLM)')
    .option('--split <split>', 'the split measured: val | train | test (the test split only when named)', DIAGNOSIS_DEFAULTS.split)
    .option('--limit <n>', 'only the first N images of the split (default all)')
    .option('--maps <source>', 'map source of the region prompts: embedded | clipseg', DIAGNOSIS_DEFAULTS.maps)
    .option('--attribution <kind>', `what the attention measure (share, lift) reads: ${ATTRIBUTIONS.map((a) => `${a} (${ATTRIBUTION_ABOUT[a]})`).join('; ')}`, DEFAULT_ATTRIBUTION)
    .option('--region-threshold <t>', 'a region prompt\'s region: where its map is above t, in (0, 1)', String(DIAGNOSIS_MASKS.threshold))
    .option('--region-dilate <px>', 'a region prompt\'s region: dilated by this many map pixels', String(DIAGNOSIS_MASKS.radius))
    .option('--seed <n>', 'seed of the donors, chance regions and colours', String(DIAGNOSIS_DEFAULTS.seed))
    .option('--examples <n>', `example images per prompt, at most ${MAX_EXAMPLES} (for --figure)`, String(DIAGNOSIS_DEFAULTS.examples))
    .option('--figure <file.png>', 'write the example images (image, prompt map, the attribution\'s energy, counterfactual) as one PNG')
    .option('--mnist-dir <dir>', MNIST_DIR_HELP)
    .option('--json', 'print one JSON object as the last stdout line')
    .action(async (o, cmd: Command) => {
      if ((o.run === undefined) === (o.model === undefined)) throw new UserError('give either --run DIR (a run folder) or --model FILE (a checkpoint) with --dataset');
      if (o.run !== undefined && (o.dataset !== undefined || o.dataSeed !== undefined)) {
        throw new UserError('--dataset and --data-seed go with --model: a run folder is diagnosed on the data its config names');
      }
      if (o.model !== undefined && o.dataset === undefined) throw new UserError('--model needs --dataset (the data to diagnose the net on)');
      if (!SPLITS.includes(o.split)) throw new UserError(`--split must be one of ${SPLITS.join(', ')}, not '${o.split}'`);
      const limit = intOption(o.limit, '--limit', 2);
      const seed = intOption(o.seed, '--seed')!;
      const examples = intOption(o.examples, '--examples', 1)!;
      if (examples > MAX_EXAMPLES) throw new UserError(`--examples must be at most ${MAX_EXAMPLES} (images per prompt in one PNG), not ${examples}`);
      if (cmd.getOptionValueSource('examples') === 'cli' && o.figure === undefined) throw new UserError('--examples goes with --figure: the example images are drawn only there');
      const dataSeed = intOption(o.dataSeed, '--data-seed');
      const attribution = checkAttribution(o.attribution);
      const threshold = Number(o.regionThreshold);
      if (!(String(o.regionThreshold).trim() !== '' && threshold > 0 && threshold < 1)) throw new UserError(`--region-threshold must be a number in (0, 1), not '${o.regionThreshold}'`);
      const regions = { threshold, mass: null, radius: intOption(o.regionDilate, '--region-dilate')! };
      pngFileOption(o.figure, '--figure');
      // folders --figure makes are removed again when the diagnosis fails (nothing is left behind but what was asked for)
      const madeDirs = o.figure !== undefined ? prepareOutFile(o.figure, '--figure', PNG_FILE).created : [];
      try {
        await diagnoseCommand(o, { limit, seed, examples, dataSeed, attribution, regions });
      } catch (e) {
        for (const dir of madeDirs) removeIfEmpty(dir);
        throw e;
      }
    });
}

/** The most example images per prompt (--examples): each is a row of four tiles in one PNG. */
const MAX_EXAMPLES = 50;

interface Parsed { limit?: number; seed: number; examples: number; dataSeed?: number; attribution: AttributionName; regions: MaskSettings }

/** The diagnosis itself, once the flags are checked: measure, draw the figure, print. */
async function diagnoseCommand(o: Record<string, any>, p: Parsed): Promise<void> {
  const { limit, seed, examples, dataSeed, attribution, regions } = p;
  const opts = {
    prompts: o.prompts ?? [], attributePrompts: o.attributePrompts ?? [], split: o.split as SplitName, limit, maps: o.maps,
    seed, examples: o.figure !== undefined ? examples : 0, mnistDir: o.mnistDir, attribution, regions,
    log: (m: string) => process.stderr.write(`ltl diagnose: ${m}\n`),
  };
  const d: Diagnosis = o.run !== undefined
    ? await diagnoseRun(o.run, opts)
    : await diagnoseCheckpoint(o.model, { ...opts, dataset: o.dataset, dataSeed });
  // no example to draw (no candidate varies any of these images): the diagnosis is still printed, then one error
  const noFigure = o.figure !== undefined && !d.examples.length
    ? new UserError(`--figure: no example image to draw (no candidate prompt varies any of these images); ${o.figure} not written`) : undefined;
  if (o.figure !== undefined && !noFigure) writeFileAtomic(o.figure, await diagnosisExamplesPng(d));
  if (o.json) {
    printJson(diagnosisJson(d));
    if (noFigure) throw noFigure;
    return;
  }
  console.log(`${d.net} on ${d.images} ${d.split} images of ${d.dataset} (accuracy ${(100 * d.accuracy).toFixed(2)} %)`);
  const r = d.settings.regions;
  console.log(`attention by ${d.settings.attribution === 'gradient' ? 'input gradients' : d.settings.attribution}; regions: map > ${r.threshold}, dilated by ${r.radius} map pixel${r.radius === 1 ? '' : 's'}`);
  // percentages with one decimal, the lift with two
  console.log(textTable(diagnosisRows(d).map((r) => ({ ...r, lift: typeof r.lift === 'number' ? r.lift.toFixed(2) : '-' })), { digits: 1 }));
  console.log(`verdict: ${d.verdict}`);
  if (d.next) console.log(`next: ${d.next}`);
  if (noFigure) throw noFigure;
  if (o.figure !== undefined) console.log(`examples: ${o.figure}`);
}
