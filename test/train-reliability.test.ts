import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { initBackend } from '../lib/backend';
import { runTraining, registerEngine, TfjsEngine, TrainingDiverged, TrainingHalted, type TrainConfig, type TrainEngine } from '../lib/train';
import { MAX_ABS_WEIGHT } from '../lib/train/trainer';
import { readCheckpoint, writeCheckpoint } from '../lib/train/checkpoint';
import { lockRunFolder, readRunDiverged } from '../lib/train/run-folder';
import { createModel } from '../lib/models';
import { createAttention } from '../lib/attention';
import { createLoss } from '../lib/losses';
import { writeMapStore } from '../lib/maps/store';
import { EmbeddedGenerator } from '../lib/vlm/embedded';
import { readSealedJson, writeSealedJson } from '../lib/util/sealed';
import { UserError } from '../lib/util/errors';
import { smallDataset, numbersOnly } from './train-helpers';
import { tmpDirs } from './tmp-helpers';
import { flipBit, ltl, oneLineError, seededFlips, trainAndKillAfterEpoch } from './fault-helpers';
import '../lib/vlm/register'; // provides the VLM map sources (embedded, clipseg), as the package's entry points do

/**
 * Fault injection for training runs (issue: "nothing silently wrong"): damaged checkpoints and run
 * files, maps or data that changed under a resume, failed starts, divergence. Each reproduction
 * must end in one clear line (exit 1) or in the unchanged result.
 */
const tmp = tmpDirs('ltl-rel-train-');
const ds = smallDataset('decoymnist');
const TRAIN = ['train', '--dataset', 'decoymnist', '--method', 'vanilla', '--limit', '2000', '--epochs', '3', '--eval-limit', '1000', '--engine', 'auto', '--no-progress'];
const lastJson = (stdout: string) => JSON.parse(stdout.trim().split('\n').pop()!);

before(async () => { await initBackend('wasm'); });

/** Offsets of a checkpoint's parts (safetensors layout): [header start, header end) and the float payload. */
function checkpointLayout(file: string): { header: [number, number]; payload: number; size: number } {
  const b = fs.readFileSync(file);
  const hlen = Number(b.readBigUInt64LE(0));
  return { header: [8, 8 + hlen], payload: 8 + hlen, size: b.length };
}

test('1: a damaged checkpoint (mantissa byte, header byte, exponent bit) is a one-line error, never a resume', async () => {
  const R = path.join(tmp(), 'R');
  const killed = await trainAndKillAfterEpoch([...TRAIN, '--out', R], 1);
  assert.equal(killed.signal, 'SIGKILL', killed.stderr);
  assert.ok(fs.existsSync(path.join(R, 'checkpoint.safetensors')) && !fs.existsSync(path.join(R, 'result.json')));
  const { header, payload } = checkpointLayout(path.join(R, 'checkpoint.safetensors'));
  const cases: Array<[string, number, number]> = [
    ['mantissa byte of the first weight', payload, 0],
    ['header byte (inside the JSON)', header[0] + 20, 1],
    ['exponent bit of a weight', payload + 4 * 7 + 3, 6],
  ];
  for (const [what, offset, bit] of cases) {
    const dir = path.join(tmp(), 'R');
    fs.cpSync(R, dir, { recursive: true });
    const ck = path.join(dir, 'checkpoint.safetensors');
    flipBit(ck, offset, bit);
    const damaged = fs.readFileSync(ck);
    const r = ltl([...TRAIN, '--out', dir, '--json']);
    const line = oneLineError(r, assert);
    assert.match(line, /^ltl: error: checkpoint .*checkpoint\.safetensors is corrupt: (header|data) checksum mismatch/, what);
    assert.ok(!/diverged|--lr/.test(r.stderr), `${what}: not reported as divergence`);
    assert.ok(!fs.existsSync(path.join(dir, 'result.json')), `${what}: no result`);
    assert.deepEqual(fs.readFileSync(ck), damaged, `${what}: the damaged checkpoint is kept as it was (nothing lost)`);
  }
  // The intact checkpoint resumes to the numbers of an uninterrupted run.
  const resumed = ltl([...TRAIN, '--out', R, '--json']);
  assert.equal(resumed.status, 0, resumed.stderr);
  const full = ltl([...TRAIN, '--out', path.join(tmp(), 'full'), '--json']);
  assert.equal(full.status, 0, full.stderr);
  assert.deepEqual(numbersOnly(lastJson(resumed.stdout).epochs), numbersOnly(lastJson(full.stdout).epochs));
  assert.match(resumed.stderr, /resuming .* after epoch \d \(\d of 3 epochs done\)/);
});

test('1: a bit flipped at any of 24 seeded offsets of a checkpoint is an error naming the file', async () => {
  const dir = tmp();
  await assert.rejects(runTraining({ dataset: 'decoymnist', method: 'vanilla', epochs: 2, seed: 3 }, { outDir: dir, dataset: ds, haltAfterEpoch: 0 }), TrainingHalted);
  const ck = path.join(dir, 'checkpoint.safetensors');
  const good = fs.readFileSync(ck);
  for (const { offset, bit } of seededFlips('checkpoint', good.length, 24)) {
    fs.writeFileSync(ck, good);
    flipBit(ck, offset, bit);
    assert.throws(() => readCheckpoint(ck), (e: unknown) => e instanceof UserError && e.message.includes(ck) && /corrupt|not a checkpoint|truncated/.test(e.message), `offset ${offset} bit ${bit}`);
  }
});

test('1, 10: bit flips in config.json and result.json are errors naming the file; a damaged checkpoint of a finished run does not hide its intact result', async () => {
  const dir = tmp();
  const config: Partial<TrainConfig> = { dataset: 'decoymnist', method: 'vanilla', epochs: 1, seed: 3 };
  const result = await runTraining(config, { outDir: dir, dataset: ds });
  // 10: the finished run's checkpoint is damaged; its result is returned unchanged (the checkpoint is not needed).
  flipBit(path.join(dir, 'checkpoint.safetensors'), 100, 3);
  const again = await runTraining(config, { outDir: dir, dataset: ds });
  assert.deepEqual(again, result);
  for (const name of ['config.json', 'result.json']) {
    const file = path.join(dir, name);
    const good = fs.readFileSync(file);
    for (const { offset, bit } of seededFlips(name, good.length, 16)) {
      fs.writeFileSync(file, good);
      flipBit(file, offset, bit);
      await assert.rejects(runTraining(config, { outDir: dir, dataset: ds }),
        (e: unknown) => e instanceof UserError && e.message.includes(file) && /corrupt|no 'sha256' checksum/.test(e.message), `${name} offset ${offset} bit ${bit}`);
    }
    fs.writeFileSync(file, good);
  }
});

test('10 (CLI): a finished run with a damaged checkpoint returns its result.json, exit 0', () => {
  const R = path.join(tmp(), 'R');
  const args = ['train', '--dataset', 'decoymnist', '--method', 'vanilla', '--limit', '500', '--epochs', '1', '--eval-limit', '200', '--no-progress', '--out', R, '--json'];
  const first = ltl(args);
  assert.equal(first.status, 0, first.stderr);
  flipBit(path.join(R, 'checkpoint.safetensors'), 60, 5);
  const again = ltl(args);
  assert.equal(again.status, 0, again.stderr);
  assert.deepEqual(lastJson(again.stdout), lastJson(first.stdout));
  assert.match(again.stderr, /already complete/);
});

test('10 (CLI): a finished run whose selected.safetensors is damaged, missing or of another epoch is one line naming it, never complete; the copy the line offers restores it', () => {
  const R = path.join(tmp(), 'R');
  // One epoch: the selected epoch is the last, so the message may offer the last checkpoint (the same weights).
  const args = ['train', '--dataset', 'decoymnist', '--method', 'vanilla', '--limit', '200', '--epochs', '1', '--eval-limit', '100', '--no-progress', '--out', R, '--json'];
  const first = ltl(args);
  assert.equal(first.status, 0, first.stderr);
  const selected = path.join(R, 'selected.safetensors'), checkpoint = path.join(R, 'checkpoint.safetensors');
  const good = fs.readFileSync(selected);
  assert.deepEqual(good, fs.readFileSync(checkpoint), 'the selected epoch is the last: both files hold the same bytes');
  const refused = (what: RegExp) => {
    const r = ltl(args);
    assert.match(oneLineError(r, assert), what);
    assert.doesNotMatch(r.stderr, /already complete/);
  };
  fs.writeFileSync(selected, 'garbage');
  refused(/selected\.safetensors is corrupt: .*copy .*checkpoint\.safetensors to .*selected\.safetensors/);
  fs.writeFileSync(selected, good);
  flipBit(selected, good.length - 10, 2);
  refused(/selected\.safetensors is corrupt/);
  fs.rmSync(selected);
  refused(/selected\.safetensors is missing: the weights of epoch 1, which validation selected, are gone/);
  // Intact, but of another epoch than result.json selects.
  const { meta, state } = readCheckpoint(checkpoint);
  writeCheckpoint(selected, { ...meta, epoch: 4 }, state);
  refused(/selected\.safetensors holds the weights of epoch 5, not of epoch 1 that validation selected/);
  fs.copyFileSync(checkpoint, selected);
  const again = ltl(args);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stderr, /already complete/);
  assert.deepEqual(lastJson(again.stdout), lastJson(first.stdout));
});

test('10: with the selected epoch before the last, a missing selected.safetensors says no resume rebuilds it', async () => {
  const dir = tmp();
  // A learning rate too small to change a prediction: every epoch scores the same, and a tie selects the earliest.
  const config: Partial<TrainConfig> = { dataset: 'decoymnist', method: 'vanilla', epochs: 2, lr: 1e-12, seed: 3 };
  const result = await runTraining(config, { outDir: dir, dataset: ds });
  assert.equal(result.selectedEpoch, 0);
  fs.rmSync(path.join(dir, 'selected.safetensors'));
  await assert.rejects(runTraining(config, { outDir: dir, dataset: ds }),
    (e: unknown) => e instanceof UserError && /selected\.safetensors is missing: .*no resume can rebuild them/.test(e.message) && !/copy .*checkpoint/.test(e.message));
});

test('10: a resume checks the weights selected so far before it trains: missing or damaged, one line and no epoch trained', async () => {
  const dir = tmp();
  const config: Partial<TrainConfig> = { dataset: 'decoymnist', method: 'vanilla', epochs: 3, seed: 5 };
  await assert.rejects(runTraining(config, { outDir: dir, dataset: ds, haltAfterEpoch: 1 }), TrainingHalted);
  const selected = path.join(dir, 'selected.safetensors'), checkpoint = path.join(dir, 'checkpoint.safetensors');
  const good = fs.readFileSync(selected), before = fs.readFileSync(checkpoint);
  fs.rmSync(selected);
  await assert.rejects(runTraining(config, { outDir: dir, dataset: ds }),
    (e: unknown) => e instanceof UserError && /selected\.safetensors is missing: the weights of epoch \d, which validation selected, are gone/.test(e.message));
  fs.writeFileSync(selected, good);
  flipBit(selected, good.length - 10, 2);
  await assert.rejects(runTraining(config, { outDir: dir, dataset: ds }), (e: unknown) => e instanceof UserError && /selected\.safetensors is corrupt/.test(e.message));
  assert.deepEqual(fs.readFileSync(checkpoint), before, 'no epoch was trained');
  // Intact again: the resume finishes, as an uninterrupted run does.
  fs.writeFileSync(selected, good);
  const resumed = await runTraining(config, { outDir: dir, dataset: ds });
  const fresh = await runTraining(config, { outDir: tmp(), dataset: ds });
  assert.deepEqual(numbersOnly(resumed.epochs as never), numbersOnly(fresh.epochs as never));
  assert.equal(resumed.selectedEpoch, fresh.selectedEpoch);
});

test('a resume runs on the backend and engine its epochs ran on: a checkpoint from another backend is one line, never a mixed run', async () => {
  const dir = tmp();
  const config: Partial<TrainConfig> = { dataset: 'decoymnist', method: 'vanilla', epochs: 2, seed: 6 };
  await assert.rejects(runTraining(config, { outDir: dir, dataset: ds, haltAfterEpoch: 0 }), TrainingHalted);
  const file = path.join(dir, 'checkpoint.safetensors');
  const { meta, state } = readCheckpoint<Record<string, unknown>>(file);
  assert.equal(meta.runtime?.backend, 'wasm');
  assert.ok(meta.runtime?.engine, 'the engine is recorded');
  writeCheckpoint(file, { ...meta, runtime: { backend: 'cpu', engine: meta.runtime!.engine } }, state);
  await assert.rejects(runTraining(config, { outDir: dir, dataset: ds }), (e: unknown) => e instanceof UserError
    && /trained epochs 1-1 on the cpu backend with the .* engine; this process has the wasm backend .* resume where it ran \(LTL_BACKEND=cpu\)/.test(e.message));
  // a checkpoint that does not record its runtime (written before it was recorded) resumes as before
  const { runtime: _r, ...old } = meta;
  writeCheckpoint(file, old, state);
  assert.equal((await runTraining(config, { outDir: dir, dataset: ds })).epochs.length, 2);
});

test('a resume removes the temporary files a killed writer left, never a live writer\'s', async () => {
  const dir = tmp();
  const config: Partial<TrainConfig> = { dataset: 'decoymnist', method: 'vanilla', epochs: 2, seed: 7 };
  await assert.rejects(runTraining(config, { outDir: dir, dataset: ds, haltAfterEpoch: 0 }), TrainingHalted);
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  const stale = path.join(dir, `checkpoint.safetensors.tmp-${Number(dead.stdout)}-1700000000000`);
  const live = path.join(dir, `sweep-state.json.tmp-${process.pid}-1700000000000`);
  fs.writeFileSync(stale, 'torn');
  fs.writeFileSync(live, 'being written');
  const logged: string[] = [];
  await runTraining(config, { outDir: dir, dataset: ds, log: (m) => logged.push(m) });
  assert.ok(!fs.existsSync(stale) && fs.existsSync(live));
  assert.ok(logged.some((m) => /removed 1 temporary file\(s\) a killed run left/.test(m)));
});

test('a second trainer into a folder another live process trains is one line naming it; the lock of a killed process is taken over', async () => {
  const R = path.join(tmp(), 'R');
  const args = ['train', '--dataset', 'decoymnist', '--method', 'vanilla', '--limit', '200', '--epochs', '1', '--eval-limit', '100', '--no-progress', '--out', R];
  // A live holder: this test process (the lock a running trainer takes).
  const held = lockRunFolder(R);
  try {
    assert.match(oneLineError(ltl(args), assert), new RegExp(`run folder .*R is in use by process ${process.pid} on `));
    assert.ok(!fs.existsSync(path.join(R, 'config.json')), 'the refused trainer wrote nothing');
  } finally {
    held.release();
  }
  // A holder killed with SIGKILL: its lock stays behind, and the next trainer takes it over.
  const victim = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)']);
  await new Promise((r) => victim.once('spawn', r));
  fs.writeFileSync(path.join(R, 'train.lock'), JSON.stringify({ pid: victim.pid, childPid: victim.pid, hostname: os.hostname(), startedAt: new Date().toISOString(), heartbeat: Date.now(), token: 'killed' }));
  victim.kill('SIGKILL');
  await new Promise((r) => victim.once('close', r));
  const r = ltl(args);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /took over the lock of .*R \(worker pid \d+ on .* is gone\)/);
  assert.equal(fs.readFileSync(path.join(R, 'epochs.jsonl'), 'utf8').trim().split('\n').length, 1, 'each epoch once');
  assert.ok(!fs.existsSync(path.join(R, 'train.lock')), 'released at the end');
});

/** An align run on a map file of "a digit" in a fresh folder; `write` overwrites the file with another prompt's maps. */
async function alignOnMapFile(): Promise<{ dir: string; out: string; config: Partial<TrainConfig>; write: (prompt: string) => Promise<void>; gen: EmbeddedGenerator }> {
  const dir = tmp();
  const file = path.join(dir, 'm.ltlmap');
  const gen = new EmbeddedGenerator();
  const indices = Array.from({ length: ds.train.count }, (_, i) => i);
  const write = async (prompt: string) => writeMapStore(file, {
    dataset: ds.name, split: 'train', generator: 'embedded', prompt, background: [], datasetChecksum: ds.checksum,
  }, await gen.generate({ split: ds.train, indices, prompt }));
  await write('a digit');
  return { dir, out: path.join(dir, 'R'), config: { dataset: 'decoymnist', method: 'align', attentionEpoch: 1, epochs: 2, seed: 3, maps: file }, write, gen };
}

test('2: a resume checks the maps by checksum: a map file overwritten with maps of another prompt is refused', async () => {
  const { dir, out, config, write, gen } = await alignOnMapFile();
  await assert.rejects(runTraining(config, { outDir: out, dataset: ds, haltAfterEpoch: 0 }), TrainingHalted);
  await write('a square');
  gen.dispose();
  await assert.rejects(runTraining(config, { outDir: out, dataset: ds }), (e: unknown) => e instanceof UserError
    && /was trained with other target maps/.test(e.message) && /prompt "a digit"/.test(e.message) && /prompt "a square"/.test(e.message));
  assert.ok(!fs.existsSync(path.join(out, 'result.json')));
  // And the data: a dataset with other images under the same name is refused too.
  const other = { ...ds, checksum: 'f'.repeat(64) };
  await assert.rejects(runTraining({ ...config, maps: 'oracle' }, { outDir: path.join(dir, 'R2'), dataset: ds, haltAfterEpoch: 0 }), TrainingHalted);
  await assert.rejects(runTraining({ ...config, maps: 'oracle' }, { outDir: path.join(dir, 'R2'), dataset: other }),
    (e: unknown) => e instanceof UserError && /was trained on other data: dataset decoymnist had checksum/.test(e.message));
});

test('2: a finished run is returned again only for the inputs it was made from: other data, an overwritten map file or other prompt maps are one line', async () => {
  const { dir, out, config, write, gen } = await alignOnMapFile();
  const result = await runTraining(config, { outDir: out, dataset: ds });
  const logged: string[] = [];
  assert.deepEqual(await runTraining(config, { outDir: out, dataset: ds, log: (m) => logged.push(m) }), result);
  assert.ok(logged.some((m) => /already complete/.test(m)));
  await write('a square');
  await assert.rejects(runTraining(config, { outDir: out, dataset: ds }), (e: unknown) => e instanceof UserError
    && /was trained with other target maps/.test(e.message) && /prompt "a square"/.test(e.message));
  gen.dispose();
  // The data (a vanilla run: nothing else would notice first)
  const vconfig: Partial<TrainConfig> = { dataset: 'decoymnist', method: 'vanilla', epochs: 1, seed: 3 };
  const vout = path.join(dir, 'V');
  await runTraining(vconfig, { outDir: vout, dataset: ds });
  await assert.rejects(runTraining(vconfig, { outDir: vout, dataset: { ...ds, checksum: 'f'.repeat(64) } }),
    (e: unknown) => e instanceof UserError && /--out .*V was trained on other data: dataset decoymnist had checksum/.test(e.message));
  // The prompt maps of a run with prompts: a changed map cache (as a retrained VLM would give) is refused, not returned.
  const cache = path.join(dir, 'cache');
  const pconfig: Partial<TrainConfig> = { dataset: 'decoymnist', method: 'vanilla', epochs: 1, seed: 3, maps: 'embedded', prompt: 'a digit', augment: 'prompt', augmentShare: 1 };
  const pout = path.join(dir, 'P');
  const presult = await runTraining(pconfig, { outDir: pout, dataset: ds, promptCacheDir: cache });
  assert.deepEqual(await runTraining(pconfig, { outDir: pout, dataset: ds, promptCacheDir: cache }), presult);
  const sealed = readSealedJson<Record<string, any>>(path.join(pout, 'result.json'))!;
  sealed.prompts.provenance[0].mapsSha256 = '0'.repeat(64);
  writeSealedJson(path.join(pout, 'result.json'), sealed);
  await assert.rejects(runTraining(pconfig, { outDir: pout, dataset: ds, promptCacheDir: cache }),
    (e: unknown) => e instanceof UserError && /prompt maps or penalty of the finished run in .* differ from those made now/.test(e.message));
});

test('7: a run that fails before its first epoch leaves nothing, and the corrected command runs', () => {
  const base = tmp();
  const R = path.join(base, 'R');
  const small = ['--method', 'vanilla', '--limit', '300', '--epochs', '1', '--eval-limit', '100', '--no-progress', '--out', R];
  const unknown = ltl(['train', '--dataset', 'nosuchset', ...small]);
  assert.match(oneLineError(unknown, assert), /unknown dataset 'nosuchset'/);
  assert.ok(!fs.existsSync(R), 'no run folder left behind');
  const fixed = ltl(['train', '--dataset', 'decoymnist', ...small]);
  assert.equal(fixed.status, 0, fixed.stderr);

  // A truncated map file: the folder is not created, then the right file works.
  const maps = path.join(base, 'm.ltlmap');
  const made = ltl(['maps', '--dataset', 'decoymnist', '--split', 'train', '--generator', 'oracle', '--limit', '300', '--out', maps]);
  assert.equal(made.status, 0, made.stderr);
  const whole = fs.readFileSync(maps);
  fs.writeFileSync(maps, whole.subarray(0, whole.length - 1000));
  const R2 = path.join(base, 'R2');
  const align = ['train', '--dataset', 'decoymnist', '--method', 'align', '--attention-epoch', '0', '--maps', maps, '--limit', '300', '--epochs', '1', '--eval-limit', '100', '--no-progress', '--out', R2];
  assert.match(oneLineError(ltl(align), assert), /map file .*m\.ltlmap is corrupt: .*\(truncated or extended\)/);
  assert.ok(!fs.existsSync(R2));
  fs.writeFileSync(maps, whole);
  const ok = ltl(align);
  assert.equal(ok.status, 0, ok.stderr);
});

test('7: a run killed before its first checkpoint does not refuse a corrected configuration', async () => {
  const dir = tmp();
  // What a run killed during its first epoch leaves: config.json (and an empty epochs.jsonl), no checkpoint.
  writeSealedJson(path.join(dir, 'config.json'), { dataset: 'decoymnist', method: 'vanilla', lr: 5 });
  fs.writeFileSync(path.join(dir, 'epochs.jsonl'), '');
  const logs: string[] = [];
  const r = await runTraining({ dataset: 'decoymnist', method: 'vanilla', epochs: 1, seed: 3 }, { outDir: dir, dataset: ds, log: (m) => logs.push(m) });
  assert.equal(r.epochs.length, 1);
  assert.ok(logs.some((m) => /never completed an epoch.*starting afresh/.test(m)), logs.join('\n'));
  // A diverged first epoch leaves no config.json behind either: only its record, with no epoch to select.
  const d2 = tmp();
  await assert.rejects(runTraining({ dataset: 'decoymnist', method: 'vanilla', epochs: 1, lr: 1e8 }, { outDir: d2, dataset: ds }), TrainingDiverged);
  assert.deepEqual(fs.readdirSync(d2), ['diverged.json']);
  const rec = readRunDiverged(d2)!;
  assert.equal(rec.divergedInEpoch, 0);
  assert.equal(rec.selectedEpoch, null);
  assert.equal(rec.testAccSelected, null);
  assert.match(rec.diverged, /^training diverged in epoch 1 of 1/);
});

test('8: epochs count from 1 in messages; weights of 1e13 are divergence and never become the kept checkpoint', async () => {
  // An engine that trains normally but whose weights explode (finite) in its second epoch.
  registerEngine('explode-in-epoch-2', {
    unsupported: () => undefined,
    create: ({ config: c, optimizer, initialWeights }) => {
      const inner = new TfjsEngine({ model: createModel(c.model, c.seed, initialWeights), method: c.method, attention: createAttention(c.attention), loss: createLoss(c.loss), optimizer });
      let epochsSeen = 0;
      const e: TrainEngine = Object.create(inner);
      e.getState = () => {
        const s = inner.getState();
        if (++epochsSeen === 2) Object.values(s.weights)[0].data[0] = 1e13;
        return s;
      };
      return e;
    },
  });
  const dir = tmp();
  await assert.rejects(runTraining({ dataset: 'decoymnist', method: 'vanilla', epochs: 3, seed: 3, engine: 'explode-in-epoch-2' }, { outDir: dir, dataset: ds }),
    (e: unknown) => e instanceof TrainingDiverged
      && /^training diverged in epoch 2 of 3: a weight reached \|w\| = 1\.0e\+13 \(limit 1e\+6\); lower --lr or --lambda; the last good checkpoint \(after epoch 1\) is kept in /.test((e as Error).message));
  const kept = readCheckpoint(path.join(dir, 'checkpoint.safetensors'));
  assert.equal(kept.meta.epoch, 0, 'the checkpoint is the one written after epoch 1 (0-based 0)');
  // the folder records the divergence: the completed epoch, validation's pick among the completed epochs, no result.json
  const rec = readRunDiverged(dir)!;
  assert.equal(rec.divergedInEpoch, 1);
  assert.equal(rec.epochs.length, 1);
  assert.equal(rec.selectedEpoch, 0);
  assert.equal(rec.testAccSelected, rec.epochs[0].testAcc);
  assert.equal(rec.diverged, 'training diverged in epoch 2 of 3: a weight reached |w| = 1.0e+13 (limit 1e+6)', 'no advice, no folder');
  assert.ok(!fs.existsSync(path.join(dir, 'result.json')));
  for (const w of Object.values(kept.state.weights)) for (const v of w.data) assert.ok(Math.abs(v) <= MAX_ABS_WEIGHT);
  // The resume notice names the epoch the same way as the progress lines ("epoch 1/3").
  const logs: string[] = [];
  await assert.rejects(runTraining({ dataset: 'decoymnist', method: 'vanilla', epochs: 3, seed: 3, engine: 'explode-in-epoch-2' }, { outDir: dir, dataset: ds, log: (m) => logs.push(m) }), TrainingDiverged);
  assert.ok(logs.some((m) => /from its checkpoint after epoch 1 \(1 of 3 epochs done\)/.test(m)), logs.join('\n'));
});

test('checkpoints written by hand with other data in them still load when intact (format round trip)', () => {
  const f = path.join(tmp(), 'c.safetensors');
  const state = { weights: { a: { shape: [2], data: Float32Array.from([1, -2]) } }, slots: { 'm/a': { shape: [2], data: Float32Array.from([0.5, 0]) } }, step: 7 };
  writeCheckpoint(f, { epoch: 2, rng: { seed: 1, nextEpoch: 3 }, history: [{ x: 1 }], trainSeconds: 1, imagesTrained: 5, inputs: { datasetChecksum: 'x' } }, state);
  const r = readCheckpoint(f);
  assert.equal(r.meta.step, 7);
  assert.deepEqual(r.meta.inputs, { datasetChecksum: 'x' });
  assert.deepEqual([...r.state.weights.a.data], [1, -2]);
  assert.deepEqual([...r.state.slots['m/a'].data], [0.5, 0]);
  assert.deepEqual(readSealedJson(path.join(tmp(), 'missing.json')), undefined);
});
