'use strict';
/**
 * The project's tslab, checked to be the one scripts/tslab-kernel was written against: the kernel
 * replaces a method of tslab 1.0.22 (bind-before-serve.js) and relies on how its converter reads
 * files (project-package.js), so another tslab is an error that says so, not a kernel that half works.
 */
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const VERSION = '1.0.22';
/** SHA-256 of the files whose internals the kernel relies on, as npm installs tslab 1.0.22. */
const FILES = {
  'dist/jupyter.js': '186ae73149b280330d965b087933efa9eea51187f319f4163b44ae06327aef5f', // ZmqServer.init, replaced
  'dist/main.js': 'e3b60b922e8ebf203b8f8c666598247f710ffb1b5ad3c145c8b74c5a27e11476', // startKernel
  'dist/converter.js': '2c671708872c2ad7c36db9f703e5917571e73a62c4cf67f5abad0bd02c56b832', // reads files through ts.sys
};

/**
 * Checks the project's tslab (version and files) without loading it: its folder and a require()
 * rooted in it (the kernel loads zeromq through it before anything else, see bind-before-serve.js).
 * @param {string} projectRoot
 * @returns {{ dir: string, requireFromTslab: NodeRequire }}
 */
function checkPinnedTslab(projectRoot) {
  let pkgJson;
  try {
    pkgJson = require.resolve('tslab/package.json', { paths: [projectRoot] });
  } catch {
    throw new Error(`tslab is not installed in ${projectRoot}/node_modules: run npm ci there`);
  }
  const dir = path.dirname(pkgJson);
  const version = JSON.parse(fs.readFileSync(pkgJson, 'utf8')).version;
  const changed = Object.entries(FILES)
    .filter(([file, sha]) => crypto.createHash('sha256').update(fs.readFileSync(path.join(dir, file))).digest('hex') !== sha)
    .map(([file]) => file);
  if (version !== VERSION || changed.length) {
    throw new Error(`${dir} is tslab ${version}${changed.length ? ` with other ${changed.join(', ')}` : ''}, not the tslab ${VERSION} ` +
      `(package.json pins it) whose start-up scripts/tslab-kernel fixes: run npm ci, or check the fix against this tslab ` +
      `and update scripts/tslab-kernel/pinned-tslab.js`);
  }
  return { dir, requireFromTslab: require('node:module').createRequire(path.join(dir, 'dist', 'main.js')) };
}

/**
 * Loads tslab from the project's node_modules after checking its version and files.
 * @param {string} projectRoot
 * @param {{ dir: string, requireFromTslab: NodeRequire }} [checked] checkPinnedTslab's answer, when already asked
 * @returns {{ dir: string, main: any, jupyter: any, ts: any, requireFromTslab: NodeRequire }}
 */
function loadPinnedTslab(projectRoot, checked = checkPinnedTslab(projectRoot)) {
  const { dir, requireFromTslab } = checked;
  return {
    dir,
    // TypeScript first: project-package.js patches it before tslab's converter uses it.
    ts: requireFromTslab('@tslab/typescript-for-tslab'),
    main: requireFromTslab('./main.js'),
    jupyter: requireFromTslab('./jupyter.js'),
    requireFromTslab,
  };
}

module.exports = { checkPinnedTslab, loadPinnedTslab, VERSION, FILES };
