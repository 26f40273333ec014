'use strict';
/**
 * `import ... from 'learning-to-look'` in a notebook, whatever folder the kernel starts in.
 *
 * tslab compiles a cell as a file in its working directory (Node10 module resolution: the
 * node_modules folders from there upwards) and runs it with a require() rooted there. Jupyter clients
 * start the kernel where they like: JupyterLab and `npm run papermill` in the notebook's folder,
 * plain papermill and nbclient in the caller's. The kernel keeps the
 * working directory it was given (a notebook's relative paths mean what they mean in any other
 * kernel) and, when no node_modules folder from there upwards holds the package, finds it in the
 * project, the way tslab itself makes `import 'tslab'` work from any folder (its converter forwards
 * <cwd>/node_modules/tslab to its own files):
 *  - type checking: TypeScript's file system (ts.sys, which tslab's converter reads through) shows
 *    <cwd>/node_modules/learning-to-look as the project's folder;
 *  - running: NODE_PATH gets the project's notebooks/node_modules (its learning-to-look links to the
 *    project; scripts/setup-notebooks.sh makes it), searched after the node_modules folders.
 * A folder that has its own learning-to-look (notebooks/ through its link, a user's installed copy)
 * uses it for both, as Node would.
 */
const fs = require('node:fs');
const path = require('node:path');
const Module = require('node:module');

const PACKAGE = 'learning-to-look';

/**
 * The node_modules/learning-to-look folder at or above `cwd`, or null.
 * @param {string} cwd
 * @returns {string | null}
 */
function installedAbove(cwd) {
  for (let dir = path.resolve(cwd); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'node_modules', PACKAGE);
    if (fs.existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) return null;
  }
}

/**
 * Makes the project's package importable from `cwd` for tslab: patches `ts.sys` (the TypeScript
 * module tslab compiles with) and NODE_PATH. Call before tslab creates its converter.
 * @param {{ ts: { sys: Record<string, any> }, projectRoot: string, cwd: string }} o
 * @returns {{ forwarded: string | null }} the path shown as the project's folder, or null when `cwd` has its own
 */
function resolveProjectPackage({ ts, projectRoot, cwd }) {
  const kernelModules = path.join(projectRoot, 'notebooks', 'node_modules');
  if (!fs.existsSync(path.join(kernelModules, PACKAGE))) {
    throw new Error(`${path.join(kernelModules, PACKAGE)} is missing: run bash scripts/setup-notebooks.sh in ${projectRoot}`);
  }
  // Running: after the node_modules folders above cwd, as Node does with NODE_PATH. Node reads
  // NODE_PATH when it starts; _initPaths reads it again for this process.
  process.env.NODE_PATH = [process.env.NODE_PATH, kernelModules].filter(Boolean).join(path.delimiter);
  if (typeof Module._initPaths !== 'function') throw new Error(`this Node.js (${process.version}) has no Module._initPaths`);
  Module._initPaths();
  if (installedAbove(cwd)) return { forwarded: null };

  // Type checking: the forwarded folder is the project's, for the calls of Node10 resolution.
  const shown = path.join(path.resolve(cwd), 'node_modules', PACKAGE);
  const forward = (p) => {
    if (typeof p !== 'string') return p;
    const abs = path.resolve(p);
    if (abs !== shown && !abs.startsWith(shown + path.sep)) return p;
    return path.join(projectRoot, abs.slice(shown.length));
  };
  const sys = ts.sys;
  for (const name of ['fileExists', 'directoryExists', 'readFile', 'realpath', 'getDirectories', 'readDirectory', 'getModifiedTime']) {
    const original = sys[name];
    if (typeof original !== 'function') continue;
    sys[name] = function (p, ...rest) {
      return original.call(this, forward(p), ...rest);
    };
  }
  return { forwarded: shown };
}

module.exports = { resolveProjectPackage, installedAbove, PACKAGE };
