import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { PROFILES, profileRows } from '../lib/experiments/profiles';
import { ablationFigure, ablationRows, ablationSpecs, type AblationRun } from '../lib/experiments';
import { resolveConfig } from '../lib/train/config';

test('ablation specs: every seed of the profile runs every point (none silently cut to the first)', () => {
  const p = PROFILES.paper;
  assert.deepEqual(p.ablation.seeds, [37, 38, 39]);
  const specs = ablationSpecs(p);
  const perSeed = ablationSpecs(p, [37]);
  assert.equal(specs.length, 3 * perSeed.length);
  for (const seed of p.ablation.seeds) {
    const mine = specs.filter((s) => s.config.seed === seed);
    assert.deepEqual(mine.map((s) => s.label), perSeed.map((s) => s.label), `seed ${seed}: the same points`);
  }
  // the quick profile (CI) still runs one seed
  assert.ok(ablationSpecs(PROFILES.quick).every((s) => s.config.seed === PROFILES.quick.ablation.seeds[0]));
  assert.equal(ablationSpecs(PROFILES.quick).length, ablationSpecs(PROFILES.quick, [PROFILES.quick.ablation.seeds[0]]).length);
  // and the profile table says which seeds the ablations use
  assert.ok(profileRows(p).some((r) => r.setting.startsWith('ablation') && /37, 38, 39/.test(r.value)));
});

test('ablation rows name each run\'s seed; the figure shows the mean over seeds with the std as error bars', () => {
  const spec = ablationSpecs(PROFILES.quick).find((s) => s.factor === 'lambda')!;
  const run = (seed: number, value: string, acc: number): AblationRun => ({
    label: spec.label, factor: 'lambda', value, dir: `/runs/${value}/${seed}`, config: resolveConfig({ ...spec.config, seed }),
    result: { valAccSelected: acc, testAccSelected: acc, testAccFinal: acc, selectedEpoch: 0, epochs: [] } as unknown as AblationRun['result'],
  });
  const runs = [run(37, '0', 0.5), run(38, '0', 0.7), run(37, '10 (default)', 0.9), run(38, '10 (default)', 0.9)];
  assert.deepEqual(ablationRows(runs).map((r) => r.seed), [37, 38, 37, 38]);
  const fig = ablationFigure(runs, 'lambda');
  const val = fig.data[0] as { x: string[]; y: number[]; error_y?: { array: number[] } };
  assert.deepEqual(val.x, ['0', '10 (default)']);
  assert.ok(Math.abs(val.y[0] - 60) < 1e-9 && Math.abs(val.y[1] - 90) < 1e-9, `means ${val.y}`);
  assert.ok(Math.abs(val.error_y!.array[0] - 100 * Math.sqrt(0.02)) < 1e-9 && val.error_y!.array[1] === 0, `std ${val.error_y?.array}`);
  assert.match(JSON.stringify(fig.layout), /seeds 37, 38/);
  // one seed: plain bars, that seed in the title
  const one = ablationFigure(runs.filter((r) => r.config.seed === 37), 'lambda');
  assert.equal((one.data[0] as { error_y?: unknown }).error_y, undefined);
  assert.match(JSON.stringify(one.layout), /seed 37/);
});
