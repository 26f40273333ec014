import * as tf from '@tensorflow/tfjs';
import * as os from 'node:os';
import { registerConv2DBackpropFilter } from './kernels/conv2d-backprop-filter';
import { registerConv2DBackpropInput } from './kernels/conv2d-backprop-input';
import { registerFastBatchMatMul } from './kernels/batch-matmul';
import { UserError } from '../util/errors';

/** The backends we know how to use, in order of preference. */
export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';

export interface BackendInfo {
  /** Our name for it (tfjs-node-gpu registers as 'tensorflow' too; we keep them apart). */
  name: BackendName;
  /** tfjs's own name for the active backend. */
  tfBackend: string;
  /** Threads the backend computes with (1 unless the backend says otherwise). */
  threads: number;
  /** Why this one was chosen. */
  reason: string;
}

let active: BackendInfo | undefined;

/**
 * Loads tfjs-node(-gpu) if it is really installed. The package name alone is not enough: an npm override can
 * alias '@tensorflow/tfjs-node' to plain tfjs (danfojs-node users do), so we also check that the module
 * registers the 'tensorflow' backend.
 */
function tryRequireNodeBackend(mod: string): boolean {
  try {
    if (require(`${mod}/package.json`).name !== mod) return false;
    require(mod);
    return tf.findBackendFactory('tensorflow') !== null;
  } catch {
    return false;
  }
}

async function initWasm(threads: number): Promise<number> {
  const wasm = require('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm');
  try {
    wasm.setThreadsCount(threads);
  } catch {
    /* older builds have no thread control */
  }
  if (!(await tf.setBackend('wasm'))) throw new UserError('the tfjs wasm backend failed to initialise');
  registerConv2DBackpropFilter('wasm');
  registerConv2DBackpropInput('wasm'); // the backend's own is a slow loop; this one uses XNNPACK's Conv2D
  registerFastBatchMatMul('wasm'); // its transposed-operand paths are ~10x slower than Transpose + plain product
  try {
    return wasm.getThreadsCount();
  } catch {
    return 1;
  }
}

/**
 * Chooses and initialises the compute backend: LTL_BACKEND (or `prefer`) if set, else tfjs-node-gpu,
 * then tfjs-node, then wasm, whichever can be imported. Idempotent: later calls return the first choice
 * unless a different backend is asked for explicitly.
 */
export async function initBackend(prefer?: BackendName | string, opts: { threads?: number } = {}): Promise<BackendInfo> {
  const wanted = (prefer ?? process.env.LTL_BACKEND ?? '') as BackendName | '';
  if (active && (!wanted || wanted === active.name)) return active;
  const threads = opts.threads ?? Number(process.env.LTL_THREADS ?? 1);
  if (!(Number.isInteger(threads) && threads >= 1)) {
    throw new UserError(`LTL_THREADS must be an integer >= 1, not '${process.env.LTL_THREADS}'`);
  }
  const known: BackendName[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];
  if (wanted && !known.includes(wanted)) {
    throw new UserError(`unknown backend '${wanted}' (LTL_BACKEND): use one of ${known.join(', ')}`);
  }
  const setNode = async (mod: string, name: BackendName, reason: string): Promise<BackendInfo | undefined> => {
    if (!tryRequireNodeBackend(mod)) return undefined;
    await tf.setBackend('tensorflow');
    return { name, tfBackend: 'tensorflow', threads: os.cpus().length, reason };
  };
  let info: BackendInfo | undefined;
  if (wanted === 'tensorflow-gpu' || !wanted) info = await setNode('@tensorflow/tfjs-node-gpu', 'tensorflow-gpu', wanted ? 'LTL_BACKEND' : 'tfjs-node-gpu is installed');
  if (!info && (wanted === 'tensorflow' || !wanted)) info = await setNode('@tensorflow/tfjs-node', 'tensorflow', wanted ? 'LTL_BACKEND' : 'tfjs-node is installed');
  if (!info && wanted && wanted !== 'wasm' && wanted !== 'cpu') {
    throw new UserError(`backend '${wanted}' was asked for but its package is not installed`);
  }
  if (!info && (wanted === 'wasm' || !wanted)) {
    const n = await initWasm(threads);
    info = { name: 'wasm', tfBackend: 'wasm', threads: n, reason: wanted ? 'LTL_BACKEND' : 'default (tfjs-node not installed)' };
  }
  if (!info) {
    await tf.setBackend('cpu');
    info = { name: 'cpu', tfBackend: 'cpu', threads: 1, reason: 'LTL_BACKEND' };
  }
  await tf.ready();
  active = info;
  return info;
}

/** The backend chosen by initBackend, if any. */
export function activeBackend(): BackendInfo | undefined {
  return active;
}
