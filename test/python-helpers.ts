import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';

/**
 * Reading our tensor files back in Python, as a PyTorch or NumPy user would. The project's .venv has
 * safetensors and numpy (pinned in scripts/requirements-jupyter.txt); tests skip without them.
 */
export const VENV_PYTHON = path.join(__dirname, '..', '.venv', 'bin', 'python');
export const pythonSkip = (() => {
  if (!fs.existsSync(VENV_PYTHON)) return '.venv is not set up (bash scripts/setup-jupyter.sh)';
  const r = spawnSync(VENV_PYTHON, ['-c', 'import safetensors.numpy, numpy'], { encoding: 'utf8' });
  return r.status === 0 ? false : 'safetensors/numpy are not installed in .venv (bash scripts/setup-jupyter.sh)';
})();

/** Loads `file` with safetensors.numpy.load_file; returns {name: {dtype, shape, values}} and the metadata. */
export function pythonLoad(file: string): { tensors: Record<string, { dtype: string; shape: number[]; values: number[] }>; metadata: Record<string, string> } {
  const code = [
    'import sys, json, math',
    'from safetensors.numpy import load_file',
    'from safetensors import safe_open',
    't = load_file(sys.argv[1])',
    "with safe_open(sys.argv[1], framework='np') as f: m = f.metadata()",
    'fix = lambda v: v if math.isfinite(v) else str(v)',
    "print(json.dumps({'tensors': {k: {'dtype': str(v.dtype), 'shape': list(v.shape), 'values': [fix(float(x)) for x in v.ravel()]} for k, v in t.items()}, 'metadata': m}))",
  ].join('\n');
  const r = spawnSync(VENV_PYTHON, ['-c', code, file], { encoding: 'utf8', maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

