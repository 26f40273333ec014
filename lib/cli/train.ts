import { Option, type Command } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { runTraining, type TrainConfig } from '../train';
import { printJson, printTable } from './output';
import { prepareOutDir, removeIfEmpty } from '../util/outputs';
import { RUN_OPTIONS, TRAIN_OPTION_LIST, optionHelp, readArg, type TrainOption } from '../train/options';
import { RECIPES, applyRecipe, recipeFlags } from '../train/recipes';
import { UserError } from '../util/errors';

const pct = (x: number) => `${(100 * x).toFixed(2)} %`;

export function register(program: Command): void {
  const cmd = program
    .command('train')
    .description('train a CNN on a shortcut dataset: vanilla, attention alignment (the paper) or RRR; resumable with --out')
    .option('--out <dir>', 'run folder: config.json, epochs.jsonl, checkpoint.safetensors, result.json (rerun to resume); without it the run is kept in memory only (nothing to resume)')
    .option('--recipe <name>', `start from a recipe; the options given win over it: ${Object.values(RECIPES).map((r) => `${r.name} (${r.about}: ${recipeFlags(r)})`).join(' | ')}`);
  for (const o of [...TRAIN_OPTION_LIST, ...Object.values(RUN_OPTIONS)]) cmd.addOption(commanderOption(o));
  cmd
    .option('--json', 'print result.json as the last stdout line')
    .option('--no-progress', 'no progress bar')
    .action(async (o) => {
      // Options not given stay undefined, so resolveConfig applies the defaults (some depend on other options).
      const given = Object.fromEntries(TRAIN_OPTION_LIST.map((x) => [x.key, o[x.name]])) as Partial<TrainConfig>;
      const config = o.recipe !== undefined ? applyRecipe(o.recipe, given) : given;
      const bar = o.progress && process.stderr.isTTY
        ? new SingleBar({ format: 'epoch {epoch} [{bar}] {value}/{total} img {eta_formatted}', stream: process.stderr, hideCursor: false, etaBuffer: 200 }, Presets.shades_classic)
        : undefined;
      let started = false;
      let barEpoch = -1;
      // The run folder must be writable before any data is loaded; a failed start leaves no new folder behind.
      const { created } = o.out !== undefined ? prepareOutDir(o.out, '--out') : { created: false };
      const result = await runTraining(config, {
        ...(o.out !== undefined ? { outDir: o.out } : {}), mnistDir: o.mnistDir,
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
          process.stderr.write(`epoch ${r.epoch + 1}/${n} ${r.phase} lambda ${Number(r.lambda.toPrecision(4))} lr ${r.lr.toExponential(1)} loss ${r.loss.toFixed(4)} ce ${r.ce.toFixed(4)} att ${r.att.toFixed(4)} val ${pct(r.valAcc)}${r.valExcludedShare != null ? ` excluded ${pct(r.valExcludedShare)}` : ''}${r.valCfAcc != null ? ` val-cf ${pct(r.valCfAcc)}` : ''} test ${pct(r.testAcc)} (${r.seconds.toFixed(1)} s, ${r.imagesPerSecond.toFixed(0)} img/s)\n`);
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
      console.log(`${result.imagesPerSecond.toFixed(0)} training images/s on ${result.backend} (${result.engine} engine)${o.out !== undefined ? `; run folder ${o.out}` : ' (no --out: nothing written)'}`);
    });
}

/** A declared option as a commander option: help with the default once (from the declaration), no commander default
 * (resolveConfig must see which options were given), numbers parsed here, a repeatable flag collected into a list. */
function commanderOption(o: TrainOption): Option {
  const opt = new Option(`--${o.flag} <${o.arg}>`, optionHelp(o));
  if (o.kind === 'texts') opt.argParser((v: string, acc: string[] = []) => [...acc, v]);
  else if (o.kind === 'int' || o.kind === 'number') {
    opt.argParser((v: string) => {
      const r = readArg(o, v);
      if ('problem' in r) throw new UserError(r.problem);
      return r.value;
    });
  }
  if (o.required) opt.makeOptionMandatory();
  return opt;
}
