import { test, before } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initBackend } from '../lib/backend';
import { runTraining, selectEpoch, TrainingHalted, registerEngine, TfjsEngine, NonFiniteLossError, type TrainConfig, type TrainEngine } from '../lib/train';
import { createModel } from '../lib/models';
import { createAttention } from '../lib/attention';
import { createLoss } from '../lib/losses';
import { UserError } from '../lib/util/errors';
import { readCheckpoint } from '../lib/train/checkpoint';
import { OLD_CHECKPOINT_NAMES, RUN_FILE_NAMES, runFiles, runWeightsFile, readRunEpochs } from '../lib/train/run-folder';
import { smallDataset, numbersOnly } from './train-helpers';

const ds = smallDataset('decoymnist');
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'ltl-train-'));
const base: Partial<TrainConfig> = { dataset: 'decoymnist', method: 'align', attentionEpoch: 1, epochs: 2, seed: 3, lr: 0.01 };

before(async () => { await initBackend('wasm'); });

test('an interrupted run resumes from its checkpoint and ends with the same numbers', async () => {
  const a = tmp(), b = tmp();
  const full = await runTraining(base, { outDir: a, dataset: ds });
  await assert.rejects(runTraining(base, { outDir: b, dataset: ds, haltAfterEpoch: 0 }), TrainingHalted);
  assert.ok(fs.existsSync(path.join(b, 'checkpoint.safetensors')) && !fs.existsSync(path.join(b, 'result.json')));
  const logs: string[] = [];
  const resumed = await runTraining(base, { outDir: b, dataset: ds, log: (m) => logs.push(m) });
  assert.ok(logs.some((m) => /resuming .* after epoch 1 \(1 of 2 epochs done\)/.test(m)), 'says it resumes');
  assert.equal(resumed.resumedAfterEpoch, 0);
  assert.deepEqual(numbersOnly(resumed.epochs as any), numbersOnly(full.epochs as any));
  assert.equal(resumed.testAccFinal, full.testAccFinal);
  assert.equal(resumed.selectedEpoch, full.selectedEpoch);
  const lines = fs.readFileSync(path.join(b, 'epochs.jsonl'), 'utf8').trim().split('\n');
  assert.equal(lines.length, 2);
  for (const f of ['config.json', 'result.json']) assert.ok(fs.existsSync(path.join(b, f)));
  // a different config in the same folder is refused
  await assert.rejects(runTraining({ ...base, lambda: 100 }, { outDir: b, dataset: ds }), (e: Error) => e instanceof UserError && /different configuration.*lambda/.test(e.message));
  // a finished run is not retrained
  const again = await runTraining(base, { outDir: b, dataset: ds });
  assert.equal(again.finishedAt, resumed.finishedAt);
});

test('a run folder names its files in one place; a checkpoint of the old format is one clear error, not a fresh start', async () => {
  const dir = tmp();
  await assert.rejects(runTraining({ ...base, method: 'vanilla' }, { outDir: dir, dataset: ds, haltAfterEpoch: 0 }), TrainingHalted);
  const f = runFiles(dir);
  assert.deepEqual(fs.readdirSync(dir).sort(), [RUN_FILE_NAMES.checkpoint, RUN_FILE_NAMES.config, RUN_FILE_NAMES.epochs, RUN_FILE_NAMES.selected].sort());
  assert.equal(readRunEpochs(dir)!.length, 1);
  assert.equal(runWeightsFile(dir), f.selected);
  assert.equal(runWeightsFile(dir, 'final'), f.checkpoint);
  // The same folder as the previous ltl left it: checkpoint.bin (magic LTLCKPT2) instead of checkpoint.safetensors.
  fs.renameSync(f.checkpoint, path.join(dir, OLD_CHECKPOINT_NAMES.checkpoint));
  fs.renameSync(f.selected, path.join(dir, OLD_CHECKPOINT_NAMES.selected));
  const old = (e: Error) => e instanceof UserError && /checkpoint\.bin is a checkpoint in the old format .*delete checkpoint\.bin to retrain/.test(e.message);
  await assert.rejects(runTraining({ ...base, method: 'vanilla' }, { outDir: dir, dataset: ds }), old);
  assert.throws(() => readRunEpochs(dir), old);
  assert.throws(() => runWeightsFile(dir, 'final'), old);
  assert.throws(() => runWeightsFile(dir), (e: Error) => e instanceof UserError && /selected\.bin is a checkpoint in the old format/.test(e.message));
});

test('same seed, same numbers; different seed, different numbers', async () => {
  const c = { ...base, epochs: 1, method: 'vanilla' as const };
  const r1 = await runTraining(c, { dataset: ds });
  const r2 = await runTraining(c, { dataset: ds });
  const r3 = await runTraining({ ...c, seed: 4 }, { dataset: ds });
  assert.deepEqual(numbersOnly(r1.epochs as any), numbersOnly(r2.epochs as any));
  assert.notEqual(r1.epochs[0].loss, r3.epochs[0].loss);
});

test('a huge learning rate stops with a clear error', async () => {
  await assert.rejects(runTraining({ ...base, method: 'vanilla', epochs: 1, lr: 1e8 }, { dataset: ds }),
    (e: Error) => e instanceof UserError && /diverged in epoch 1 of 1.*not finite/.test(e.message));
});

test('a NaN in a later epoch keeps the last good checkpoint', async () => {
  // an engine that behaves like tfjs but reports a NaN loss from its 8th step on (epoch 1 here)
  registerEngine('nan-after-7', {
    unsupported: () => undefined,
    create: ({ config: c, optimizer, initialWeights }) => {
      const inner = new TfjsEngine({ model: createModel(c.model, c.seed, initialWeights), method: c.method, attention: createAttention(c.attention), loss: createLoss(c.loss), optimizer });
      let steps = 0;
      const e: TrainEngine = Object.create(inner);
      e.trainStep = (b, o) => {
        if (++steps > 7) throw new NonFiniteLossError({ loss: NaN, ce: NaN, att: NaN });
        return inner.trainStep(b, o);
      };
      return e;
    },
  });
  const dir = tmp();
  await assert.rejects(runTraining({ ...base, engine: 'nan-after-7' }, { outDir: dir, dataset: ds }),
    (e: Error) => e instanceof UserError && /diverged in epoch 2 of 2/.test(e.message) && /last good checkpoint \(after epoch 1\) is kept/.test(e.message));
  const ck = readCheckpoint(path.join(dir, 'checkpoint.safetensors'));
  assert.equal(ck.meta.epoch, 0, 'the checkpoint written after epoch 1 (0-based 0)');
  assert.equal(fs.readFileSync(path.join(dir, 'epochs.jsonl'), 'utf8').trim().split('\n').length, 1);
  assert.ok(!fs.existsSync(path.join(dir, 'result.json')));
});

test('model selection never reads the test split', async () => {
  // poison the test split: shuffled labels. Validation-chosen epoch and val numbers must not move.
  const poisoned = { ...ds, test: { ...ds.test, labels: ds.test.labels.map((l) => (l + 3) % 10) } };
  const c = { ...base, epochs: 3 };
  const clean = await runTraining(c, { dataset: ds });
  const bad = await runTraining(c, { dataset: poisoned });
  assert.equal(bad.selectedEpoch, clean.selectedEpoch);
  assert.deepEqual(bad.epochs.map((e) => e.valAcc), clean.epochs.map((e) => e.valAcc));
  assert.notDeepEqual(bad.epochs.map((e) => e.testAcc), clean.epochs.map((e) => e.testAcc));
  assert.equal(bad.testAccSelected, bad.epochs[bad.selectedEpoch].testAcc);
  // selectEpoch: best validation value, earliest on ties, test numbers ignored
  const ep = [{ valAcc: 0.5, valScore: 0.1, testAcc: 0.9 }, { valAcc: 0.7, valScore: 0.05, testAcc: 0.1 }, { valAcc: 0.7, valScore: 0.2, testAcc: 0.99 }];
  assert.equal(selectEpoch(ep, 'val-acc'), 1);
  assert.equal(selectEpoch(ep, 'val-score'), 2);
  // with a combined phase, warm-up epochs (a vanilla model) never compete, however good their val numbers
  const phased = [{ valAcc: 0.99, valScore: 0.9, phase: 'ce' as const }, { valAcc: 0.8, valScore: 0.3, phase: 'combined' as const },
    { valAcc: 0.85, valScore: 0.2, phase: 'combined' as const }];
  assert.equal(selectEpoch(phased, 'val-acc'), 2);
  assert.equal(selectEpoch(phased, 'val-score'), 1);
});

test('bad options give clear errors', async () => {
  await assert.rejects(runTraining({ ...base, model: 'cdep', attention: 'cam' }, { dataset: ds }), /cam needs a global-average-pooling model/);
  await assert.rejects(runTraining({ ...base, maps: '/nonexistent/maps.bin' }, { dataset: ds }), /--maps/);
  await assert.rejects(runTraining({ ...base, epochs: 0 }, { dataset: ds }), /--epochs must be an integer >= 1/);
  await assert.rejects(runTraining({ ...base, method: 'bogus' as any }, { dataset: ds }), /--method must be one of/);
});

test('--maps FILE: a stored map file trains exactly like the generator it was made from', async () => {
  const { writeMapStore } = await import('../lib/maps/store');
  const file = path.join(tmp(), 'oracle.maps');
  const hw = ds.train.height * ds.train.width;
  const data = Float32Array.from(ds.train.digitMasks.subarray(0, ds.train.count * hw));
  writeMapStore(file, { dataset: ds.name, split: 'train', generator: 'oracle', prompt: '', background: [], datasetChecksum: ds.checksum },
    { count: ds.train.count, height: ds.train.height, width: ds.train.width, data });
  const c = { ...base, epochs: 2 };
  const viaFile = await runTraining({ ...c, maps: file }, { dataset: ds });
  const viaGen = await runTraining({ ...c, maps: 'oracle' }, { dataset: ds });
  assert.deepEqual(viaFile.epochs.map((e) => [e.loss, e.att, e.testAcc]), viaGen.epochs.map((e) => [e.loss, e.att, e.testAcc]));
  await assert.rejects(runTraining({ ...c, maps: file, dataset: 'colormnist' }, { dataset: { ...ds, name: 'colormnist' } }), /dataset/);
});
