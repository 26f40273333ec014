#!/usr/bin/env node
'use strict';
/**
 * The project's Jupyter kernel: tslab 1.0.22 (TypeScript), started so that
 *  - it answers from its first request on, however loaded the machine (bind-before-serve.js);
 *  - notebooks import 'learning-to-look' from any working directory (project-package.js).
 * The kernel spec (scripts/setup-notebooks.sh writes it) runs
 *   node <project>/scripts/tslab-kernel/kernel.js --config-path {connection_file}
 * `--check` loads and checks tslab and exits (setup runs it, so a wrong tslab fails the set-up).
 */
const path = require('node:path');
const { checkPinnedTslab, loadPinnedTslab } = require('./pinned-tslab');
const { bindBeforeServe, bindKernelSockets } = require('./bind-before-serve');
const { resolveProjectPackage } = require('./project-package');

const PROJECT_ROOT = path.resolve(__dirname, '..', '..');

function main(argv) {
  const check = argv.includes('--check');
  const at = argv.indexOf('--config-path');
  const configPath = at >= 0 ? argv[at + 1] : undefined;
  if (!check && !configPath) {
    process.stderr.write('usage: kernel.js --config-path CONNECTION_FILE | --check\n');
    process.exit(2);
  }
  let tslab;
  let early;
  try {
    const checked = checkPinnedTslab(PROJECT_ROOT);
    if (!check) {
      // The ports first, before TypeScript loads (bind-before-serve.js says why); a port that stays
      // taken ends the kernel with one line, so a client restarts it or says it died.
      early = bindKernelSockets(configPath, checked.requireFromTslab('zeromq'));
      early.bound.catch((e) => {
        process.stderr.write(`tslab kernel: ${e.message}\n`);
        process.exit(1);
      });
    }
    tslab = loadPinnedTslab(PROJECT_ROOT, checked);
    resolveProjectPackage({ ts: tslab.ts, projectRoot: PROJECT_ROOT, cwd: process.cwd() });
  } catch (e) {
    process.stderr.write(`tslab kernel: ${e.message}\n`);
    process.exit(1);
  }
  if (check) {
    process.stdout.write(`tslab kernel: tslab ${require(path.join(tslab.dir, 'package.json')).version} at ${tslab.dir} checked\n`);
    return;
  }
  tslab.jupyter.ZmqServer.prototype.init = bindBeforeServe(() => tslab.requireFromTslab('zeromq'), early);
  // enableFindLocal: false, so a tslab installed in the working directory's node_modules (tslab would
  // hand the kernel to it) cannot replace the checked one.
  tslab.main.startKernel({ configPath, enableFindLocal: false, jsKernel: false, globalVersion: '' });
}

main(process.argv.slice(2));
