import { test, before } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { initBackend } from '../lib/backend';
import type { ShortcutDataset } from '../lib/data/types';
import { runTraining, TrainingHalted, type TrainConfig, type TrainResult } from '../lib/train';
import { readCheckpoint } from '../lib/train/checkpoint';
import { OracleGenerator } from '../lib/maps/generators/oracle';
import { writeMapStore } from '../lib/maps/store';
import { sha256 } from '../lib/util/hash';
import { smallDataset } from './train-helpers';
import { tmpDirs } from './tmp-helpers';
import '../lib/vlm/register'; // provides the VLM map sources (embedded, clipseg), as the package's entry points do

/**
 * The training pipeline gives the same numbers, bit for bit, as the code that made the fixture: one short config of
 * every method and data path (engines tfjs and fused, each penalty, oracle / embedded / map-file maps, prompt
 * constraints, counterfactual augmentation and validation, a resumed run). What is compared per run: the result
 * without its timings and machine facts, the digests of the last and the selected checkpoint's tensors, the files of
 * the run folder and the log lines. LTL_UPDATE_FIXTURE=1 rewrites the fixture (only when the numbers are meant to
 * change, and then say why in the commit).
 */
const FIXTURE = path.join(__dirname, 'fixtures', 'train-pipeline-equivalence.json');
const tmp = tmpDirs('ltl-equiv-');
const N = { train: 96, val: 48, test: 48 };
const datasets: Record<string, ShortcutDataset> = {};
const data = (name: string) => (datasets[name] ??= smallDataset(name, N));

/** Every case trains 2 epochs of batch 16 (the combined phase from epoch 1 where the method has one). */
const BASE: Partial<TrainConfig> = { epochs: 2, attentionEpoch: 1, batch: 16, seed: 5, lr: 0.01 };

const CASES: Record<string, Partial<TrainConfig>> = {
  'vanilla fused': { dataset: 'decoymnist', method: 'vanilla', engine: 'fused', attentionEpoch: 0 },
  'vanilla tfjs': { dataset: 'decoymnist', method: 'vanilla', engine: 'tfjs', attentionEpoch: 0 },
  'align oracle fused': { dataset: 'decoymnist', method: 'align', maps: 'oracle', engine: 'fused' },
  'align oracle tfjs gradcam': { dataset: 'decoymnist', method: 'align', maps: 'oracle', engine: 'tfjs', attention: 'gradcam', select: 'val-score' },
  'align embedded': { dataset: 'decoymnist', method: 'align', maps: 'embedded', prompt: 'a digit' },
  'align map file': { dataset: 'decoymnist', method: 'align', maps: '<mapfile>' },
  'align uniform': { dataset: 'decoymnist', method: 'align', maps: 'uniform' },
  'align random': { dataset: 'decoymnist', method: 'align', maps: 'random' },
  'rrr spatial': { dataset: 'decoymnist', method: 'rrr', rrrMode: 'spatial', lambda: 10 },
  'rrr colour': { dataset: 'colormnist', method: 'rrr', rrrMode: 'colour', lambda: 10 },
  'rrr prompt oracle': { dataset: 'decoymnist', method: 'rrr', rrrMode: 'prompt', maps: 'oracle', prompt: 'a digit', negativePrompts: ['a square'], select: 'val-rr', lambda: 10 },
  'rrr prompt embedded': { dataset: 'decoymnist-hard', method: 'rrr', rrrMode: 'prompt', maps: 'embedded', prompt: 'a digit', promptMass: 0.99, lambda: 10 },
  // the maps of 'align embedded' again, from the cache (the prompt's words are checked there), and an untaught word
  'vanilla augment embedded val-cf': { dataset: 'decoymnist', method: 'vanilla', augment: 'prompt', select: 'val-cf', maps: 'embedded', prompt: 'a digit', negativePrompts: ['a figure'], attentionEpoch: 0 },
  'rrr attribute': { dataset: 'colormnist', method: 'rrr', rrrMode: 'prompt', attributePrompt: 'colour of a digit', lambda: 10, select: 'val-rr' },
  'eg spatial': { dataset: 'decoymnist', method: 'eg', rrrMode: 'spatial', lambda: 10 },
  'cdep colour': { dataset: 'colormnist', method: 'cdep', rrrMode: 'colour', lambda: 10 },
  'cdep spatial': { dataset: 'decoymnist', method: 'cdep', rrrMode: 'spatial', lambda: 10 },
  'vanilla augment prompt val-cf': { dataset: 'decoymnist', method: 'vanilla', augment: 'prompt', select: 'val-cf', maps: 'oracle', prompt: 'a digit', attentionEpoch: 0 },
  'vanilla augment attribute val-cf': { dataset: 'colormnist', method: 'vanilla', augment: 'prompt', augmentShare: 0.5, select: 'val-cf', attributePrompt: 'colour of a digit', attentionEpoch: 0 },
  'vanilla augment annotation': { dataset: 'decoymnist', method: 'vanilla', augment: 'annotation', attentionEpoch: 0 },
  'vanilla augment annotation colour': { dataset: 'colormnist', method: 'vanilla', augment: 'annotation', attentionEpoch: 0 },
};
/** Cases also run as interrupted after epoch 0 and resumed: the resumed result must equal the uninterrupted one. */
const RESUMED = ['rrr prompt oracle', 'vanilla augment prompt val-cf', 'align map file'];

interface Recorded {
  result: unknown;
  checkpoints: Record<string, string>;
  files: string[];
  log: string[];
}

let root = '';
let mapFile = '';
before(async () => {
  await initBackend('wasm');
  root = tmp();
  // A map file as `ltl maps` writes one (oracle digit masks of the training images).
  const ds = data('decoymnist');
  mapFile = path.join(root, 'digits.maps.safetensors');
  const maps = await new OracleGenerator().generate({ split: ds.train, prompt: '' });
  writeMapStore(mapFile, { dataset: ds.name, split: 'train', generator: 'oracle', prompt: '', background: [], datasetChecksum: ds.checksum }, maps);
});

/** The run's config with the map file's placeholder filled in. */
function configOf(name: string): Partial<TrainConfig> {
  const c = { ...BASE, ...CASES[name] };
  if (c.maps === '<mapfile>') c.maps = mapFile;
  return c;
}

/** Paths of this machine (the temporary root) become '<tmp>'; timings and machine facts are dropped. */
function portable<T>(value: T): unknown {
  const drop = new Set(['seconds', 'evalSeconds', 'imagesPerSecond', 'trainSeconds', 'finishedAt', 'backend', 'threads']);
  return JSON.parse(JSON.stringify(value, (k, v) => (drop.has(k) ? undefined : typeof v === 'string' ? v.split(root).join('<tmp>') : v)));
}

function tensorDigests(file: string): string {
  const { state } = readCheckpoint(file);
  const parts: Buffer[] = [];
  for (const group of [state.weights, state.slots]) {
    for (const k of Object.keys(group).sort()) parts.push(Buffer.from(k), Buffer.from(group[k].data.buffer, group[k].data.byteOffset, group[k].data.byteLength));
  }
  return `${sha256(...parts)} step ${state.step}`;
}

async function record(name: string, outDir: string, log: string[], halt = false): Promise<Recorded> {
  const opts = { dataset: data(configOf(name).dataset!), outDir, promptCacheDir: path.join(root, 'cache'), log: (m: string) => log.push(m) };
  if (halt) await assert.rejects(runTraining(configOf(name), { ...opts, haltAfterEpoch: 0 }), TrainingHalted);
  const result: TrainResult = await runTraining(configOf(name), opts);
  const checkpoints: Record<string, string> = {};
  for (const f of ['checkpoint.safetensors', 'selected.safetensors']) checkpoints[f] = tensorDigests(path.join(outDir, f));
  return { result: portable(result), checkpoints, files: fs.readdirSync(outDir).sort(), log: portable(log) as string[] };
}

test('the training pipeline reproduces the fixture bit for bit: every method, map source, constraint, augmentation, and a resume', async () => {
  const got: Record<string, Recorded> = {};
  for (const name of Object.keys(CASES)) got[name] = await record(name, path.join(root, 'runs', name.replace(/ /g, '-')), []);
  for (const name of RESUMED) {
    const r = await record(name, path.join(root, 'resumed', name.replace(/ /g, '-')), [], true);
    const whole = got[name].result as { epochs: unknown; resumedAfterEpoch: unknown };
    const part = r.result as { epochs: unknown; resumedAfterEpoch: unknown };
    assert.deepEqual(part.epochs, whole.epochs, `${name}: a resumed run's epochs equal the uninterrupted run's`);
    assert.equal(part.resumedAfterEpoch, 0);
    got[`${name} (resumed)`] = r;
  }
  if (process.env.LTL_UPDATE_FIXTURE === '1') {
    fs.writeFileSync(FIXTURE, JSON.stringify(got, null, 1) + '\n');
    return;
  }
  const want = JSON.parse(fs.readFileSync(FIXTURE, 'utf8')) as Record<string, Recorded>;
  assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort(), 'the same cases as the fixture');
  for (const name of Object.keys(want)) assert.deepEqual(got[name], want[name], `case '${name}' differs from the fixture`);
});
