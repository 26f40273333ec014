import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RESULTS_BEGIN, RESULTS_END, findResultFiles, renderResultsTable, replaceBetweenMarkers, resultRows, readRunFile, settingsLabel, updateResultsMarkdown } from '../lib/report/results-table';
import { resolveConfig, type TrainConfig } from '../lib/train/config';
import { UserError } from '../lib/util/errors';
import { tmpDirs } from './tmp-helpers';
import { seal, SEAL_KEY } from '../lib/util/sealed';

const tmp = tmpDirs('ltl-results-');

/** A result.json as the trainer writes it (the fields the table reads, plus epochs). */
function writeResult(dir: string, partial: Partial<TrainConfig>, nums: { val: number; test: number; final: number; excluded?: number }): void {
  const config = resolveConfig(partial);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'result.json'), JSON.stringify(seal({
    config, selectBy: config.select, selectedEpoch: 1, valAccSelected: nums.val, testAccSelected: nums.test, testAccFinal: nums.final,
    valExcludedShareSelected: nums.excluded ?? null, epochs: [{}, {}], engine: 'tfjs',
  })));
}

test('results table: one row per setting over seeds, mean ± std in %, written between the markers only', () => {
  const root = tmp();
  const results = path.join(root, 'docs', 'results');
  const v = { dataset: 'decoymnist-hard', method: 'vanilla' as const, epochs: 3 };
  writeResult(path.join(results, 'hard', 'vanilla-s1'), { ...v, seed: 1, engine: 'fused' }, { val: 0.99, test: 0.25, final: 0.2 });
  writeResult(path.join(results, 'hard', 'vanilla-s2'), { ...v, seed: 2 }, { val: 0.97, test: 0.35, final: 0.3 });
  const p = { dataset: 'decoymnist-hard', method: 'rrr' as const, prompt: 'a digit', epochs: 3, attentionEpoch: 0, select: 'val-rr' as const };
  writeResult(path.join(results, 'hard', 'rrr-prompt-s1'), { ...p, seed: 1 }, { val: 0.9, test: 0.8, final: 0.75, excluded: 0.1 });
  writeResult(path.join(results, 'color', 'x', 'y', 'vanilla-s1'), { dataset: 'colormnist', method: 'vanilla', seed: 1 }, { val: 1, test: 0.001, final: 0 });
  fs.writeFileSync(path.join(results, 'notes.json'), '{}'); // not a result file: ignored

  assert.equal(findResultFiles(results).length, 4);
  const rows = resultRows(findResultFiles(results).map(readRunFile));
  assert.deepEqual(rows.map((r) => [r.dataset, r.method, r.seeds.length]), [['colormnist', 'vanilla', 1], ['decoymnist-hard', 'vanilla', 2], ['decoymnist-hard', 'rrr', 1]]);
  const table = renderResultsTable(rows);
  // vanilla on decoymnist-hard: seeds 1 and 2 (the engine does not split a row); mean ± sample std
  assert.match(table, /\| decoymnist-hard \| vanilla \| --epochs 3 \| val-acc \| - \| 2 \(1, 2\) \| 98\.00 ± 1\.41 \| - \| 30\.00 ± 7\.07 \| 25\.00 ± 7\.07 \| - \|/);
  assert.match(table, /\| decoymnist-hard \| rrr \| .*--prompt "a digit".* \| val-rr \| - \| 1 \(1\) \| 90\.00 \| - \| 80\.00 \| 75\.00 \| 10\.00 \|/);
  assert.ok(!/--seed|--engine/.test(table));

  const md = path.join(root, 'docs', 'results.md');
  fs.writeFileSync(md, `# Results\n\nhand-written text\n\n${RESULTS_BEGIN}\nold table\n${RESULTS_END}\n\nmore text\n`);
  updateResultsMarkdown(results, md);
  const once = fs.readFileSync(md, 'utf8');
  assert.ok(once.startsWith('# Results\n\nhand-written text\n\n' + RESULTS_BEGIN + '\n| dataset |'));
  assert.ok(once.endsWith(`${RESULTS_END}\n\nmore text\n`));
  assert.ok(!once.includes('old table'));
  assert.match(once, /From 4 run file\(s\) under `results\/`\./);
  updateResultsMarkdown(results, md);
  assert.equal(fs.readFileSync(md, 'utf8'), once, 'idempotent');

  // a second file of the same setting and seed is an error, as are missing markers
  writeResult(path.join(results, 'hard', 'vanilla-s1-again'), { ...v, seed: 1 }, { val: 0.9, test: 0.2, final: 0.2 });
  assert.throws(() => updateResultsMarkdown(results, md), (e: Error) => e instanceof UserError && /same setting and seed 1/.test(e.message));
  assert.throws(() => replaceBetweenMarkers('no markers', 'x'), UserError);
  assert.throws(() => readRunFile(path.join(results, 'notes.json')), UserError);
});

test('results table: a diverged seed counts in its row (selected epoch among those it completed), with no final epoch', () => {
  const results = tmp();
  const c = { dataset: 'colormnist', method: 'rrr' as const, epochs: 3, attentionEpoch: 0 };
  writeResult(path.join(results, 'r', 'seed-1'), { ...c, seed: 1 }, { val: 0.9, test: 0.2, final: 0.1 });
  writeResult(path.join(results, 'r', 'seed-2'), { ...c, seed: 2 }, { val: 0.8, test: 0.4, final: 0.3 });
  const diverged = (dir: string, seed: number, nums: { val: number; test: number } | null) => {
    const config = resolveConfig({ ...c, seed });
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'diverged.json'), JSON.stringify(seal({
      config, engine: 'fused', diverged: 'training diverged in epoch 2 of 3', divergedInEpoch: 1, selectBy: config.select,
      selectedEpoch: nums ? 0 : null, valAccSelected: nums?.val ?? null, valExcludedShareSelected: null, testAccSelected: nums?.test ?? null, epochs: [],
    })));
  };
  diverged(path.join(results, 'r', 'seed-3'), 3, { val: 0.7, test: 0.6 });
  assert.equal(findResultFiles(results).length, 3);
  const [row] = resultRows(findResultFiles(results).map(readRunFile));
  assert.deepEqual([row.seeds, row.diverged, row.testSelected, row.testFinal], [[1, 2, 3], [3], [0.2, 0.4, 0.6], [0.1, 0.3]]);
  assert.match(renderResultsTable([row]), /\| 3 \(1, 2, 3\); diverged: 3 \| 80\.00 ± 10\.00 \| - \| 40\.00 ± 20\.00 \| 20\.00 ± 14\.14 \(2 finished\) \|/);
  // a seed that diverged before its first epoch: counted, no accuracy
  diverged(path.join(results, 'r', 'seed-4'), 4, null);
  const [row4] = resultRows(findResultFiles(results).map(readRunFile));
  assert.deepEqual([row4.seeds.length, row4.diverged, row4.testSelected.length], [4, [3, 4], 3]);
  // every seed diverged: the final-epoch cell says so
  const only = tmp();
  diverged(path.join(only, 'seed-3'), 3, { val: 0.7, test: 0.6 });
  assert.match(renderResultsTable(resultRows(findResultFiles(only).map(readRunFile))), /\| 1 \(3\); diverged: 3 \| 70\.00 \| - \| 60\.00 \| diverged \|/);
});

test('results table: a run made before an option existed (its config lacks the key) shares the row of runs at that option\'s default', () => {
  const results = tmp();
  const v = { dataset: 'decoymnist', method: 'vanilla' as const, epochs: 3 };
  writeResult(path.join(results, 's1'), { ...v, seed: 1 }, { val: 0.9, test: 0.9, final: 0.9 });
  writeResult(path.join(results, 's2'), { ...v, seed: 2 }, { val: 0.9, test: 0.8, final: 0.8 });
  const f = path.join(results, 's1', 'result.json');
  const r = JSON.parse(fs.readFileSync(f, 'utf8'));
  const { egReferences: _gone, ...older } = r.config;
  delete r[SEAL_KEY];
  fs.writeFileSync(f, JSON.stringify(seal({ ...r, config: older })));
  assert.equal(resultRows(findResultFiles(results).map(readRunFile)).length, 1);
  // a key that differs from the default still makes its own row
  writeResult(path.join(results, 's3'), { ...v, seed: 3, lr: 0.5 }, { val: 0.9, test: 0.8, final: 0.8 });
  assert.equal(resultRows(findResultFiles(results).map(readRunFile)).length, 2);
});

test('settings label: only what differs from the method\'s defaults on that dataset, as flags', () => {
  assert.equal(settingsLabel(resolveConfig({ dataset: 'decoymnist', method: 'rrr', seed: 4 })), '');
  assert.equal(settingsLabel(resolveConfig({ dataset: 'colormnist', method: 'rrr', lambda: 1, attentionEpoch: 0 })), '--attention-epoch 0 --lambda 1');
  assert.equal(settingsLabel(resolveConfig({ dataset: 'decoymnist-hard', method: 'rrr', prompt: 'a digit', negativePrompts: ['a square', 'a frame'] })),
    '--lambda 10 --maps embedded --negative-prompt "a square" --negative-prompt "a frame" --prompt "a digit" --rrr-mode prompt');
});

test('the language goals table: goal = the reference row\'s mean minus the margin, reached or by how much not; val-cf and VLM columns', async () => {
  const { languageGoalRows, updateLanguageGoalsMarkdown, GOALS_BEGIN, GOALS_END } = await import('../lib/experiments/language-goals');
  const dir = tmp();
  const put = (dataset: string, row: string, seed: number, test: number, extra: Record<string, unknown> = {}) => {
    const config = resolveConfig({ dataset, method: 'vanilla', prompt: 'a digit', seed });
    fs.mkdirSync(path.join(dir, dataset, row, `seed-${seed}`), { recursive: true });
    fs.writeFileSync(path.join(dir, dataset, row, `seed-${seed}`, 'result.json'), JSON.stringify({ config, selectBy: 'val-cf', selectedEpoch: 3, valAccSelected: 0.9, testAccSelected: test, testAccFinal: 0, epochs: [], ...extra }));
  };
  put('decoymnist-hard', 'clean', 1, 0.97); put('decoymnist-hard', 'clean', 2, 0.99);
  put('decoymnist-hard', 'language', 1, 0.975, { valCfAccSelected: 0.96, prompts: { provenance: [{ generator: 'embedded', generatorId: { checkpoint: '6dc795f5abc' } }] } });
  put('colormnist', 'clean', 1, 0.98); put('colormnist', 'language', 1, 0.9);
  put('decoymnist', 'vanilla', 1, 0.97);
  const rows = languageGoalRows(dir);
  const hard = rows.find((r) => r.dataset.startsWith('decoymnist-hard'))!;
  assert.equal(hard.goal, '>= 97.0 (clean 98.0 - 1)');
  assert.equal(hard.reached, 'yes');
  const colour = rows.find((r) => r.dataset === 'ColorMNIST')!;
  assert.equal(colour.reached, 'no (6.0 points short)');
  assert.equal(rows.find((r) => r.dataset.startsWith('DecoyMNIST'))!.reached, 'not yet', 'no language row yet');
  assert.equal(rows.find((r) => r.dataset.startsWith('colorfashion'))!.goal, 'clean - 5', 'no clean row yet');
  const md = path.join(dir, 'results.md');
  fs.writeFileSync(md, `a\n${GOALS_BEGIN}\nold\n${GOALS_END}\nb\n`);
  assert.equal(updateLanguageGoalsMarkdown(dir, md), true);
  assert.match(fs.readFileSync(md, 'utf8'), /\| decoymnist-hard \(frame decoy\) \| not run \| 97\.5 \(1 seed\) \| not run \| not run \| 98\.0 ± 1\.4 \(2 seeds\) \| >= 97\.0 \(clean 98\.0 - 1\) \| yes \| not run \| not yet \|/);
  // the recipe with one frame region: its own verdict, on the frame sets only
  put('decoymnist-hard', 'language-shared', 1, 0.96);
  const again = languageGoalRows(dir);
  assert.equal(again.find((r) => r.dataset.startsWith('decoymnist-hard'))!['reached (one frame region)'], 'no (1.0 points short)');
  assert.equal(again.find((r) => r.dataset === 'ColorMNIST')!['recipe, one frame region'], '—');
  const table = renderResultsTable(resultRows(findResultFiles(path.join(dir, 'decoymnist-hard', 'language')).map(readRunFile)));
  assert.match(table, /\| decoymnist-hard \| vanilla \(language\) \| .* \| val-cf \| 6dc795f5 \| 1 \(1\) \| 90\.00 \| 96\.00 \| 97\.50 \|/);
});
