import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  DEPENDENT_DEFAULTS, METHODS, RUN_OPTIONS, SWEEP_OPTIONS, TRAIN_OPTION_LIST, TRAIN_OPTIONS, argProblem, camelCase, defaultText, flagOf, kebabCase,
  type TrainOption,
} from '../lib/train/options';
import { PAPER_DEFAULTS, resolveConfig, type TrainConfig } from '../lib/train/config';
import { KNOWN_TRAIN_OPTIONS, RESERVED_OPTIONS, parseGrids } from '../lib/experiments/sweep/grid';
import { buildProgram } from '../lib/cli/main';
import { withOptionsTable } from '../lib/train/options-doc';
import { UserError } from '../lib/util/errors';

const LTL_DEV = path.join(__dirname, 'fixtures', 'ltl-dev.js');
const ltl = (...args: string[]) => spawnSync(process.execPath, [LTL_DEV, ...args], { encoding: 'utf8', env: { ...process.env, LTL_MNIST_DIR: '' } });
const RUN_OPTION_LIST = Object.values(RUN_OPTIONS) as TrainOption[];

/** A value each option accepts, as a sweep grid would give it. */
function validValue(o: TrainOption): string | number {
  switch (o.kind) {
    case 'choice': return o.choices![o.choices!.length - 1];
    case 'int': return o.min! + 1;
    case 'number': return o.min! + 0.5;
    default: return o.name === 'dataset' ? 'decoymnist' : 'x'; // a grid's dataset must name a registered one
  }
}

test('ltl train --help lists every declared option once, with its default once (from the declaration)', () => {
  const r = ltl('train', '--help');
  assert.equal(r.status, 0, r.stderr);
  const help = r.stdout.replace(/\s+/g, ' '); // commander wraps long lines
  for (const o of [...TRAIN_OPTION_LIST, ...RUN_OPTION_LIST]) {
    assert.equal(help.split(`--${o.flag} <${o.arg}>`).length - 1, 1, `--${o.flag} once`);
    const d = defaultText(o);
    if (d !== undefined) assert.ok(help.includes(`(default: ${d})`), `--${o.flag}: (default: ${d})`);
  }
  assert.match(defaultText(TRAIN_OPTIONS.lambda)!, /^160; rrr: 1000; rrr prompt mode: 10\b/);
  // One "(default: ...)" per option with a default: none typed twice into a help text, none added by commander.
  const withDefault = [...TRAIN_OPTION_LIST, ...RUN_OPTION_LIST].filter((o) => defaultText(o) !== undefined).length;
  assert.equal(help.split('(default:').length - 1, withDefault);
});

test('the registered train command has exactly the declared options (plus --out, --recipe, --json, --no-progress)', () => {
  const train = buildProgram().commands.find((c) => c.name() === 'train')!;
  const names = train.options.map((o) => o.attributeName()).sort();
  assert.deepEqual(names, [...TRAIN_OPTION_LIST, ...RUN_OPTION_LIST].map((o) => o.name).concat(['out', 'recipe', 'json', 'progress']).sort());
});

test('the sweep accepts exactly the declared keys, each value checked as ltl train would', () => {
  const declared = [...TRAIN_OPTION_LIST, ...RUN_OPTION_LIST].map((o) => o.name);
  assert.deepEqual([...KNOWN_TRAIN_OPTIONS].sort(), [...declared].sort());
  assert.ok(declared.every((k) => !RESERVED_OPTIONS.includes(k)));
  // Every declared key with a valid value parses.
  const grid = Object.fromEntries([...SWEEP_OPTIONS.values()].map((o) => [o.name, validValue(o)]));
  assert.deepEqual(parseGrids(grid, 'all'), [Object.fromEntries(Object.entries(grid).map(([k, v]) => [k, [v]]))]);
  // The repeatable flag's grid key is the flag's camelCase, not the config key.
  assert.ok(SWEEP_OPTIONS.has('negativePrompt') && !SWEEP_OPTIONS.has('negativePrompts'));
  const rejects = (g: object, re: RegExp) => assert.throws(() => parseGrids(g, 'g'), (e: unknown) => e instanceof UserError && re.test(e.message) && !e.message.includes('\n'));
  for (const k of ['progress', 'lamda', 'negativePrompts', 'egReferences-typo']) rejects({ [k]: 1 }, new RegExp(`unknown train option '${k}'`));
  assert.throws(() => parseGrids({ method: ['align', 'alignn'] }, 'g'), { message: `grid g: option 'method': --method must be one of ${METHODS.join(', ')}, not 'alignn'` });
  rejects({ lambda: 'abc' }, /option 'lambda': --lambda must be a number, not 'abc'/);
  rejects({ epochs: 0 }, /option 'epochs': --epochs must be an integer >= 1, not '0'/);
  rejects({ promptThreshold: 1 }, /--prompt-threshold must be a number in \[0, 1\), not '1'/);
  rejects({ lr: true }, /option 'lr': --lr takes a value \(number > 0\), not true/);
  // A number as a string is what `ltl train --lambda 160` reads too.
  assert.equal(argProblem(TRAIN_OPTIONS.lambda, '160'), undefined);
});

test('defaults resolve as before: paper defaults, vanilla, align, rrr, rrr prompt mode, and the other dependent defaults', () => {
  // The fixed defaults and config.json's key order, as they were spelled out before the declaration.
  const before = {
    // added since: shortcutLabels (the clean reference), augment and augmentShare (counterfactual augmentation)
    dataset: 'colormnist', dataSeed: 37, shortcutLabels: 'class', method: 'align', model: 'lenet-gap', attention: 'cam', loss: 'kl', temperature: 1,
    maps: 'oracle', postprocess: 'paper', mapThreshold: 0.5, rrrMode: 'spatial',
    // added since: promptMass (prompt masks by mass), egReferences (--method eg) and negativeRegion (one region for all images)
    prompt: null, negativePrompts: [], attributePrompt: null, promptThreshold: 0.5, promptMass: null, promptDilate: 2, negativeDilate: 1, negativeRegion: 'image', attributeForm: 'moment',
    augment: 'none', augmentShare: 1, augmentRedraw: 'image',
    lambda: 160, egReferences: 1, attentionEpoch: 11, phase1: 'ce', epochs: 30, seed: 37,
    optimizer: 'sgd', lr: 1e-3, momentum: 0.98, weightDecay: 1e-4, lrStep: 7, lrGamma: 0.1, batch: 32,
    limit: null, evalLimit: null, select: 'val-acc', scoreBeta: 0.3, engine: 'auto',
  };
  assert.equal(JSON.stringify(PAPER_DEFAULTS), JSON.stringify(before));
  assert.equal(JSON.stringify(resolveConfig({ dataset: 'decoymnist' })), JSON.stringify({ ...before, dataset: 'decoymnist' }));

  const pick = (p: Partial<TrainConfig>) => {
    const c = resolveConfig(p);
    return { lambda: c.lambda, rrrMode: c.rrrMode, maps: c.maps, attention: c.attention, postprocess: c.postprocess };
  };
  const plain = { maps: 'oracle', attention: 'cam', postprocess: 'paper' };
  assert.deepEqual(pick({ dataset: 'decoymnist', method: 'vanilla' }), { lambda: 160, rrrMode: 'spatial', ...plain });
  assert.deepEqual(pick({ dataset: 'decoymnist', method: 'align' }), { lambda: 160, rrrMode: 'spatial', ...plain });
  // Colour datasets store rrrMode 'colour' whatever the method (run folders' config.json depend on it).
  assert.deepEqual(pick({ dataset: 'colormnist', method: 'vanilla' }), { lambda: 160, rrrMode: 'colour', ...plain });
  assert.deepEqual(pick({ dataset: 'decoymnist', method: 'rrr' }), { lambda: 1000, rrrMode: 'spatial', ...plain });
  assert.deepEqual(pick({ dataset: 'colormnist', method: 'rrr' }), { lambda: 1000, rrrMode: 'colour', ...plain });
  assert.deepEqual(pick({ dataset: 'decoymnist-hard', method: 'rrr', prompt: 'a digit' }), { lambda: 10, rrrMode: 'prompt', ...plain, maps: 'embedded' });
  assert.deepEqual(pick({ dataset: 'colormnist', method: 'rrr', attributePrompt: 'colour of a digit' }), { lambda: 10, rrrMode: 'prompt', ...plain });
  assert.deepEqual(pick({ dataset: 'decoymnist', method: 'rrr', negativePrompts: ['a square'], maps: 'oracle' }), { lambda: 10, rrrMode: 'prompt', ...plain });
  // A given option wins over its dependent default, and what follows from it follows the given value.
  assert.deepEqual(pick({ dataset: 'decoymnist', method: 'rrr', rrrMode: 'spatial', prompt: 'a digit' }), { lambda: 1000, rrrMode: 'spatial', ...plain, maps: 'embedded' });
  assert.deepEqual(pick({ dataset: 'decoymnist-hard', method: 'rrr', prompt: 'a digit', lambda: 3 }), { lambda: 3, rrrMode: 'prompt', ...plain, maps: 'embedded' });
  assert.deepEqual(pick({ dataset: 'decoymnist', method: 'align', prompt: 'a digit' }), { lambda: 160, rrrMode: 'spatial', ...plain, maps: 'embedded' });
  assert.deepEqual(pick({ dataset: 'decoymnist', model: 'cdep', method: 'vanilla' }), { lambda: 160, rrrMode: 'spatial', ...plain, attention: 'gradcam' });
  assert.deepEqual(pick({ dataset: 'decoymnist', model: 'cdep', attention: 'inputgrad' }), { lambda: 160, rrrMode: 'spatial', ...plain, attention: 'inputgrad' });
  assert.deepEqual(pick({ dataset: 'decoymnist', maps: 'uniform' }), { lambda: 160, rrrMode: 'spatial', ...plain, maps: 'uniform', postprocess: 'raw' });
  assert.deepEqual(pick({ dataset: 'decoymnist', maps: 'uniform', postprocess: 'paper' }), { lambda: 160, rrrMode: 'spatial', ...plain, maps: 'uniform' });
  // undefined counts as not given (the CLI passes every option, unset ones as undefined).
  assert.equal(resolveConfig({ dataset: 'decoymnist', method: 'rrr', lambda: undefined }).lambda, 1000);
});

test('a bad value is one clear line: ltl train --method foo, and the validator\'s messages', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'ltl-train-options-'));
  const r = ltl('train', '--dataset', 'decoymnist', '--method', 'foo', '--out', path.join(out, 'run'));
  assert.equal(r.status, 1);
  assert.equal(r.stderr, `ltl: error: --method must be one of ${METHODS.join(', ')}, not 'foo'\n`);
  assert.ok(!fs.existsSync(path.join(out, 'run')), 'a failed start leaves no run folder');
  fs.rmSync(out, { recursive: true, force: true });
  const bad = (p: Partial<TrainConfig>, message: string) => assert.throws(() => resolveConfig({ dataset: 'decoymnist', ...p }), (e: unknown) => e instanceof UserError && e.message === message);
  bad({ rrrMode: 'x' as never }, "--rrr-mode must be one of spatial, colour, prompt, not 'x'");
  bad({ epochs: 2.5 }, "--epochs must be an integer >= 1, not '2.5'");
  bad({ lr: 0 }, "--lr must be a number > 0, not '0'");
  bad({ lambda: -1 }, "--lambda must be a number >= 0, not '-1'");
  bad({ promptThreshold: 1 }, "--prompt-threshold must be a number in [0, 1), not '1'");
  bad({ limit: 0 }, "--limit must be an integer >= 1, not '0'");
  bad({ prompt: ' ' }, '--prompt must be a non-empty text, not " "');
  bad({ negativePrompts: 'a square' as never }, '--negative-prompt must be a list of texts');
  bad({ negativePrompts: [''] }, '--negative-prompt must be a non-empty text, not ""');
  bad({ method: 'rrr', rrrMode: 'prompt' }, '--rrr-mode prompt needs --prompt, --negative-prompt or --attribute-prompt');
});

test('the declaration: flags are the keys\' kebab-case (one exception), names round-trip, dependent defaults are declared options', () => {
  assert.deepEqual(Object.keys(PAPER_DEFAULTS), TRAIN_OPTION_LIST.map((o) => o.key));
  for (const o of TRAIN_OPTION_LIST) {
    if (o.key !== 'negativePrompts') assert.equal(o.flag, kebabCase(o.key), o.key);
    assert.equal(camelCase(o.flag), o.name);
    assert.equal(kebabCase(o.name), o.flag);
    assert.equal(flagOf(o.key), `--${o.flag}`);
    if (o.kind === 'choice') assert.ok(o.choices!.includes(o.default as string), `${o.key}: default among the choices`);
  }
  assert.equal(flagOf('negativePrompts'), '--negative-prompt');
  assert.equal(camelCase('data-seed'), 'dataSeed');
  assert.equal(kebabCase('attentionEpoch'), 'attention-epoch');
  for (const k of Object.keys(DEPENDENT_DEFAULTS)) assert.ok(k in TRAIN_OPTIONS, k);
});

test('docs/training.md: the committed options table is the one the declaration generates', () => {
  const file = path.join(__dirname, '..', 'docs', 'training.md');
  const text = fs.readFileSync(file, 'utf8');
  assert.equal(withOptionsTable(text), text, 'stale options table: run node --import tsx scripts/options-doc.ts');
});
