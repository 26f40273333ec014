import type { Command } from 'commander';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SingleBar, Presets } from 'cli-progress';
import { initBackend } from '../backend';
import { loadDataset, loadFashionMnist, loadMnist, SPLITS, type SplitName } from '../data';
import { CHECKPOINT_FILES, CORPORA, CORPUS_STEPS, DEFAULT_CORPUS, DEFAULT_TRAIN_OPTIONS, checkPromptWords, defaultCheckpointDir, isBroadCorpus, loadCheckpoint, saveCheckpoint, trainVlm, type CheckpointMeta, type TrainOptions } from '../vlm/embedded';
import { BROAD_GATES, COMPARE_PROMPTS, evaluateBroad, evaluateVlm, plainSplit, selectMapDefaults } from '../evaluate/vlm-gates';
import { evaluateSynonyms, type SynonymReport } from '../evaluate/vlm-synonym-report';
import { SYNONYM_LISTS, SYNONYM_LISTS_MEASURED, SYNONYM_TOLERANCE, type SynonymList } from '../evaluate/vlm-synonyms';
import { writeSealedJson } from '../util/sealed';
import { UserError } from '../util/errors';
import { prepareOutDir } from '../util/outputs';
import { printJson, printTable } from './output';
import { intOption, numOption, listOption, MNIST_DIR_HELP } from './options';

const pct = (x: number) => `${(100 * x).toFixed(1)} %`;

export function register(program: Command): void {
  const vlm = program.command('vlm').description('the embedded vision-language model: train it on a synthetic caption corpus, evaluate its maps');

  vlm
    .command('train')
    .description('train the embedded VLM from scratch on generated scenes of MNIST digits and Fashion-MNIST items (training images; reproducible for a seed)')
    .requiredOption('--seed <n>', 'seed of scenes, captions and initial weights')
    .requiredOption('--out <dir>', 'checkpoint folder to write (model.json, weights.safetensors, vocab.json, meta.json)')
    .option('--steps <n>', `training steps (default: ${Object.entries(CORPUS_STEPS).map(([c, n]) => `${n} for ${c}`).join(', ')})`)
    .option('--batch <n>', 'scenes per step', String(DEFAULT_TRAIN_OPTIONS.batch))
    .option('--lr <x>', 'peak Adam learning rate', String(DEFAULT_TRAIN_OPTIONS.lr))
    .option('--corpus <name>', `scene corpus: ${Object.keys(CORPORA).join(' | ')} (digits: MNIST only, checkpoint v1; broad: + Fashion-MNIST items and frames)`, DEFAULT_CORPUS)
    .option('--fashion-dir <dir>', 'folder of the Fashion-MNIST IDX files (default: LTL_FASHION_DIR or Debian\'s /usr/share/datasets/fashion-mnist)')
    .option('--select-limit <n>', 'DecoyMNIST validation images used to choose the map temperature and background prompts (0: skip)', '500')
    .option('--mnist-dir <dir>', MNIST_DIR_HELP)
    .option('--json', 'print one JSON object as the last stdout line')
    .action(async (o) => {
      const scene = CORPORA[o.corpus as keyof typeof CORPORA];
      if (!scene) throw new UserError(`--corpus must be one of ${Object.keys(CORPORA).join(', ')}, not '${o.corpus}'`);
      const opts: TrainOptions = {
        ...DEFAULT_TRAIN_OPTIONS,
        scene,
        seed: intOption(o.seed, '--seed')!,
        steps: intOption(o.steps ?? String(CORPUS_STEPS[o.corpus as keyof typeof CORPORA]), '--steps', 1)!,
        batch: intOption(o.batch, '--batch', 2)!,
        lr: numOption(o.lr, '--lr')!,
      };
      const selectLimit = intOption(o.selectLimit, '--select-limit')!;
      // A folder that holds a checkpoint (data/vlm itself, or one trained before) is never written over, and this is
      // checked before an hour of training, not after.
      const held = CHECKPOINT_FILES.filter((f) => fs.existsSync(path.join(o.out, f)));
      if (held.length) throw new UserError(`--out ${o.out} already holds a VLM checkpoint (${held.join(', ')}): not overwritten (choose another folder, or delete it first)`);
      prepareOutDir(o.out, '--out');
      const backend = await initBackend();
      // Training images only: the test digits and items are never seen.
      const digits = loadMnist(o.mnistDir).train;
      const fashion = (scene.fashionShare ?? 0) > 0 ? loadFashionMnist(o.fashionDir).train : undefined;
      const bar = new SingleBar({ format: 'vlm train [{bar}] {value}/{total} steps | loss {loss} | {eta_formatted} left', stream: process.stderr, hideCursor: true, noTTYOutput: true, notTTYSchedule: 30000 }, Presets.shades_classic);
      bar.start(opts.steps, 0, { loss: '-' });
      const r = await trainVlm({ digits, fashion }, opts, (l) => bar.update(l.step, { loss: l.loss.toFixed(3) }));
      bar.stop();
      let mapDefaults = { background: ['background', 'black', 'dark', 'nothing'], temperature: 1 };
      let validation: Record<string, unknown> | undefined;
      if (selectLimit > 0) {
        // Map settings are chosen on the validation split (training rule), never on test.
        const val = loadDataset('decoymnist', { dir: o.mnistDir }).val;
        const sel = selectMapDefaults(r, val, selectLimit);
        mapDefaults = { background: sel.background, temperature: sel.temperature };
        const e = evaluateVlm({ ...r, meta: { mapDefaults } }, val, { limit: selectLimit });
        validation = { dataset: 'decoymnist', ...e };
      }
      const last = r.history[r.history.length - 1];
      const meta = saveCheckpoint(o.out, r.model, r.vocab, {
        createdAt: new Date().toISOString(), seed: opts.seed, steps: opts.steps, batch: opts.batch,
        training: { ...opts, corpus: isBroadCorpus(opts.scene) ? `broad: MNIST and Fashion-MNIST training images, frames, generated scenes (lib/vlm/embedded/corpus.ts)` : 'MNIST training digits, generated scenes (lib/vlm/embedded/corpus.ts)', corpusName: o.corpus },
        backend: `${backend.name} (${backend.threads} thread${backend.threads === 1 ? '' : 's'})`,
        trainSeconds: r.seconds, imagesPerSecond: r.imagesPerSecond,
        finalLoss: { total: last.loss, global: last.global, dense: last.dense, pair: last.pair, classify: last.classify, patchClassify: last.patchClassify },
        mapDefaults, evaluation: validation ? { validation } : undefined,
      });
      const result = { out: path.resolve(o.out), seed: opts.seed, steps: opts.steps, batch: opts.batch, seconds: r.seconds, imagesPerSecond: r.imagesPerSecond, parameters: meta.parameterCount, finalLoss: meta.finalLoss, mapDefaults, validation, files: meta.files };
      r.model.dispose();
      if (o.json) return printJson(result);
      console.log(`trained ${opts.steps} steps x ${opts.batch} scenes in ${r.seconds.toFixed(0)} s (${r.imagesPerSecond.toFixed(0)} images/s), ${meta.parameterCount} parameters, on ${backend.name}`);
      console.log(`final loss ${last.loss.toFixed(4)} (contrastive ${last.global.toFixed(4)}, dense ${last.dense.toFixed(4)}, pair ${last.pair.toFixed(4)})`);
      console.log(`map defaults: temperature ${mapDefaults.temperature}, background ${mapDefaults.background.join(', ')}`);
      if (validation) console.log(`validation: zero-shot ${pct(validation.zeroShotAccuracy as number)}, "a digit" on digit ${pct(validation.digitPromptDigitMass as number)} / on patch ${pct(validation.digitPromptDecoyMass as number)}, "a square" on patch ${pct(validation.squarePromptPatchMass as number)}`);
      console.log(`checkpoint written to ${o.out}`);
    });

  vlm
    .command('eval')
    .description('evaluate a checkpoint on DecoyMNIST test images (MNIST test digits it never saw): zero-shot accuracy and map mass')
    .option('--checkpoint <dir>', 'checkpoint folder (default: data/vlm of the package)')
    .option('--limit <n>', 'only the first N images of the split')
    .option('--split <split>', 'train | val | test', 'test')
    .option('--temperature <t>', 'map temperature (default: the checkpoint\'s)')
    .option('--background <list>', 'comma-separated background prompts (default: the checkpoint\'s)')
    .option('--compare', `also report digit / decoy mass of ${COMPARE_PROMPTS.length} prompts`)
    .option('--prompts <list>', 'comma-separated prompts to report digit / decoy mass for')
    .option('--allow-unknown-prompt', 'evaluate prompts even when they have no word the model knows')
    .option('--record', 'store the figures in the checkpoint\'s meta.json (evaluation.<split>)')
    .option('--no-broad', 'skip the broad gates (Fashion-MNIST zero-shot, frames on DecoyMNIST-hard, "clothing" on Fashion-MNIST with the frame); the synonym report then covers the DecoyMNIST concepts only')
    .option('--no-synonyms', 'skip the synonym report (map mass of held-out synonyms of digit, clothing, frame, square next to the word itself)')
    .option('--synonym-limit <n>', 'images per concept for the synonym report (the first N of each split; at most --limit)', '1000')
    .option('--synonym-lists <lists>', `held-out synonym lists to measure, comma-separated, of ${SYNONYM_LISTS.join(', ')} (list 3 waits for the next word reading: lib/evaluate/vlm-synonyms.ts)`, SYNONYM_LISTS_MEASURED.join(','))
    .option('--mnist-dir <dir>', MNIST_DIR_HELP)
    .option('--fashion-dir <dir>', 'folder of the Fashion-MNIST IDX files')
    .option('--json', 'print one JSON object as the last stdout line')
    .action(async (o) => {
      if (!SPLITS.includes(o.split)) throw new UserError(`--split must be one of ${SPLITS.join(', ')}, not '${o.split}'`);
      const limit = intOption(o.limit, '--limit', 1);
      const temperature = numOption(o.temperature, '--temperature');
      const background = listOption(o.background);
      const prompts = [...(o.compare ? COMPARE_PROMPTS : []), ...(listOption(o.prompts) ?? [])];
      const synonymLists = (listOption(o.synonymLists) ?? []).map((x) => {
        const k = Number(x) as SynonymList;
        if (!SYNONYM_LISTS.includes(k)) throw new UserError(`--synonym-lists takes lists of ${SYNONYM_LISTS.join(', ')}, not '${x}'`);
        return k;
      });
      if (o.synonyms !== false && !synonymLists.length) throw new UserError('--synonym-lists names no list (use --no-synonyms to skip the report)');
      await initBackend();
      const dir = o.checkpoint ?? defaultCheckpointDir();
      const vlmLoaded = loadCheckpoint(dir);
      // The record is the checkpoint's evaluation of reference (README and docs quote it): a partial run must not replace it.
      if (o.record && limit !== undefined) throw new UserError(`--record stores the evaluation on the whole ${o.split} split: drop --limit (the record of ${dir} is kept)`);
      if (o.record && o.broad === false && (vlmLoaded.meta.evaluation?.[o.split] as { broad?: unknown } | undefined)?.broad) {
        throw new UserError(`--record with --no-broad would drop the broad gates recorded for ${o.split} in ${dir}: drop --no-broad (the record is kept)`);
      }
      for (const p of listOption(o.prompts) ?? []) {
        checkPromptWords(vlmLoaded.vocab, p, background ?? [], { allowUnknown: !!o.allowUnknownPrompt, allowFlag: '--allow-unknown-prompt', warn: (m) => process.stderr.write(`ltl vlm eval: warning: ${m}\n`) });
      }
      const split = loadDataset('decoymnist', { dir: o.mnistDir })[o.split as SplitName];
      const e = evaluateVlm(vlmLoaded, split, { limit, temperature, background, prompts });
      // The broad gates are test-image figures: on test, or on another split when asked for (val: training rule images).
      let broad: ReturnType<typeof evaluateBroad> | undefined;
      const decoyHard = o.broad !== false ? loadDataset('decoymnist-hard', { dir: o.mnistDir })[o.split as SplitName] : undefined;
      const fashionFrame = o.broad !== false ? loadDataset('decoyfashion-hard', { dir: o.fashionDir })[o.split as SplitName] : undefined;
      if (decoyHard && fashionFrame) {
        const fashion = loadFashionMnist(o.fashionDir);
        broad = evaluateBroad(vlmLoaded, { decoyHard, fashion: plainSplit(o.split === 'test' ? fashion.test : fashion.train), fashionFrame }, { limit, temperature, background });
      }
      // Synonyms of the taught concepts on the same images and masks as the concepts' gates (the first N).
      let synonyms: SynonymReport | undefined;
      if (o.synonyms !== false) {
        const synonymLimit = Math.min(intOption(o.synonymLimit, '--synonym-limit', 1)!, limit ?? Infinity);
        synonyms = evaluateSynonyms(vlmLoaded, { decoymnist: split, 'decoymnist-hard': decoyHard, 'decoyfashion-hard': fashionFrame }, { limit: synonymLimit, temperature, background, lists: synonymLists });
      }
      if (o.record) {
        const meta: CheckpointMeta = { ...vlmLoaded.meta, evaluation: { ...(vlmLoaded.meta.evaluation ?? {}), [o.split]: { dataset: 'decoymnist', ...e, ...(broad ? { broad } : {}) } } };
        writeSealedJson(path.join(dir, 'meta.json'), meta);
      }
      vlmLoaded.model.dispose();
      const result = { checkpoint: path.resolve(dir), dataset: 'decoymnist', ...e, ...(broad ? { broad, fashionZeroShotAccuracy: broad.fashionZeroShotAccuracy, framePromptFrameMass: broad.framePromptFrameMass, garmentPromptObjectMass: broad.garmentPromptObjectMass } : {}), ...(synonyms ? { synonyms } : {}) };
      if (o.json) return printJson(result);
      console.log(`embedded VLM ${dir} on decoymnist ${o.split}, ${e.images} images; temperature ${e.temperature}, background: ${e.background.join(', ')}`);
      printTable([
        { metric: 'zero-shot accuracy ("a handwritten seven", ...)', value: pct(e.zeroShotAccuracy), gate: '>= 90 %', pass: e.gates.zeroShotAccuracy },
        { metric: '"a digit": mass on digit (dilated 2 px)', value: pct(e.digitPromptDigitMass), gate: '>= 80 %', pass: e.gates.digitPromptDigitMass },
        { metric: '"a digit": mass on decoy patch', value: pct(e.digitPromptDecoyMass), gate: '<= 5 %', pass: e.gates.digitPromptDecoyMass },
        { metric: '"a square": mass on decoy patch', value: pct(e.squarePromptPatchMass), gate: '>= 50 %', pass: e.gates.squarePromptPatchMass },
      ]);
      console.log(`uniform map reference: digit ${pct(e.uniformDigitMass)}, patch ${pct(e.uniformDecoyMass)}; ${e.mapsPerSecond.toFixed(0)} maps/s`);
      if (broad) {
        const g = BROAD_GATES;
        console.log(`broad gates (decoymnist-hard, fashion-mnist, decoyfashion-hard ${o.split}, ${broad.images} images each)`);
        printTable([
          { metric: 'Fashion-MNIST zero-shot accuracy ("a sneaker", ...)', value: pct(broad.fashionZeroShotAccuracy), gate: `>= ${100 * g.fashionZeroShotAccuracy} %`, pass: broad.gates.fashionZeroShotAccuracy },
          { metric: 'decoymnist-hard "a digit": mass on digit', value: pct(broad.hardDigitPromptDigitMass), gate: `>= ${100 * g.hardDigitPromptDigitMass} %`, pass: broad.gates.hardDigitPromptDigitMass },
          { metric: 'decoymnist-hard "a digit": mass on frame', value: pct(broad.hardDigitPromptFrameMass), gate: `<= ${100 * g.hardDigitPromptFrameMass} %`, pass: broad.gates.hardDigitPromptFrameMass },
          { metric: 'decoymnist-hard "a frame" / "the border": mass on frame', value: `${pct(broad.framePromptFrameMass)} / ${pct(broad.borderPromptFrameMass)}`, gate: `>= ${100 * g.framePromptFrameMass} %`, pass: broad.gates.framePromptFrameMass },
          { metric: 'decoyfashion-hard "clothing": mass on item', value: pct(broad.garmentPromptObjectMass), gate: `>= ${100 * g.garmentPromptObjectMass} %`, pass: broad.gates.garmentPromptObjectMass },
        ]);
      }
      if (synonyms) {
        console.log(`held-out synonyms (lib/evaluate/vlm-synonyms.ts), ${o.split} split, first ${synonyms.images} images per concept: ${synonyms.within} of ${synonyms.measured} within ${100 * SYNONYM_TOLERANCE} points of their concept's word (${synonyms.lists.map((l) => `list ${l.list}: ${l.within} of ${l.measured}`).join(', ')})`);
        printTable(synonyms.concepts.flatMap((c) => [
          { concept: c.concept, prompt: c.prompt, region: `${c.region === 'object' ? 'object' : c.concept} on ${c.dataset}`, mass: pct(c.mass), gap: '', within: '', 'read as': '' },
          ...c.synonyms.map((s) => ({ concept: '', prompt: s.prompt, region: `list ${s.list}`, mass: pct(s.mass), gap: `${(100 * s.gap).toFixed(1)}`, within: s.within, 'read as': s.reading })),
        ]));
      }
      if (e.prompts) printTable(e.prompts.map((p) => ({ prompt: p.prompt, 'digit mass': pct(p.digitMass), 'decoy mass': pct(p.decoyMass) })));
    });
}
