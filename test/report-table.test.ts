import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { formatMeanStd, groupBy, meanStd } from '../lib/util/stats';
import { formatCell, htmlTable, markdownTable, textTable } from '../lib/report/table';
import { groupRuns, groupTableRows, runTableRows, sweepCsv, type Sweep, type SweepRun } from '../lib/experiments/sweep/report';

test('mean ± sample std (n - 1) over seeds, grouped in first-appearance order', () => {
  assert.deepEqual(meanStd([1, 2, 3]), { mean: 2, std: 1, n: 3 }); // population std would be 0.816
  assert.deepEqual(meanStd([5]), { mean: 5, std: 0, n: 1 });
  assert.ok(Number.isNaN(meanStd([]).mean));
  assert.equal(formatMeanStd([0.5, 0.7], { percent: true, digits: 1 }), '60.0 ± 14.1');
  assert.equal(formatMeanStd([0.5]), '0.50');
  assert.equal(formatMeanStd([]), '');
  const g = groupBy([{ k: 'b', v: 1 }, { k: 'a', v: 2 }, { k: 'b', v: 3 }], (r) => r.k);
  assert.deepEqual([...g.keys()], ['b', 'a']);
  assert.deepEqual(g.get('b')!.map((r) => r.v), [1, 3]);
});

test('one renderer: text aligns, markdown escapes pipes, html escapes markup, objects as JSON', () => {
  const rows = [{ method: '<a|b>', acc: 0.5, prompts: ['x', 'y'] }, { method: 'c', acc: 12 }];
  assert.equal(textTable(rows), 'method  acc    prompts\n------  -----  ---------\n<a|b>   0.50   ["x","y"]\nc       12.00');
  assert.equal(markdownTable(rows, { columns: ['method', 'acc', 'prompts'] }),
    '| method | acc | prompts |\n|---|---|---|\n| <a\\|b> | 0.50 | ["x","y"] |\n| c | 12.00 | |');
  const h = htmlTable(rows, { highlight: { column: 'method', value: 'c' } });
  assert.ok(h.includes('&lt;a|b&gt;') && h.includes('background'));
  assert.equal(formatCell(1 / 3, 4), '0.3333');
  assert.equal(formatCell(null), '');
});

test('a column with any non-integer number prints all its numbers with the same decimals; a column of counts stays integral', () => {
  const rows = [{ prompt: 'a frame', images: 2000, flip: 57 }, { prompt: 'a digit', images: 2000, flip: 57.34 }];
  assert.equal(textTable(rows, { digits: 1 }), 'prompt   images  flip\n-------  ------  ----\na frame  2000    57.0\na digit  2000    57.3');
  assert.ok(htmlTable(rows, { digits: 1 }).includes('>57.0</td>') && htmlTable(rows, { digits: 1 }).includes('>2000</td>'));
  assert.match(markdownTable(rows, { digits: 1 }), /\| a frame \| 2000 \| 57\.0 \|/);
});

test('sweep report rows: mean ± std over the done seeds of a setting, the mean alone for one, nothing for none', () => {
  const run = (id: string, method: string, seed: number, status: SweepRun['status'], acc?: number): SweepRun =>
    ({ id, status, config: { dataset: 'd', method, seed }, attempts: 1, ...(acc === undefined ? {} : { testAccSelected: acc }) });
  const runs = [run('a1', 'vanilla', 1, 'done', 0.2), run('a2', 'vanilla', 2, 'done', 0.4), run('a3', 'vanilla', 3, 'failed'),
    run('b1', 'rrr', 1, 'done', 0.9), run('c1', 'align', 1, 'pending')];
  const sweep: Sweep = { dir: '', runs, groups: groupRuns(runs), varying: ['method', 'seed'] };
  const rows = groupTableRows(sweep);
  assert.deepEqual(rows.map((r) => [r.method, r.runs, r.testAccSelected]), [
    ['vanilla', '2/3', '0.3000 ± 0.1414'], ['rrr', '1/1', '0.9000'], ['align', '0/1', ''],
  ]);
  assert.ok(Math.abs(sweep.groups[0].metrics.testAccSelected!.std! - 0.2 / Math.SQRT2) < 1e-12);
  assert.equal(sweep.groups[1].metrics.testAccSelected!.std, null); // the JSON's std: null for one run
});

test('sweep report tables print the selected epoch counted from 1, as ltl train does; the CSV keeps result.json\'s 0-based index', () => {
  const run = (id: string, seed: number, selectedEpoch: number): SweepRun => ({ id, status: 'done', config: { dataset: 'd', method: 'align', seed }, attempts: 1, selectedEpoch });
  const runs = [run('a1', 1, 6), run('a2', 2, 8)];
  const sweep: Sweep = { dir: '', runs, groups: groupRuns(runs), varying: ['seed'] };
  assert.deepEqual(runTableRows(sweep).map((r) => r['selected epoch']), [7, 9]);
  assert.ok(!('selectedEpoch' in runTableRows(sweep)[0]), 'no column that reads as result.json\'s field');
  assert.equal(groupTableRows(sweep)[0]['selected epoch'], '8.0 ± 1.4');
  assert.match(sweepCsv(sweep).split('\n')[1], /,6,/);
});
