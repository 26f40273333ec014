/**
 * Entry of one encoding worker thread (lib/vlm/embedded/encode-pool.ts): its own tfjs wasm backend (one
 * thread) and a copy of the VLM's weights; turns image blocks into patch embeddings with the very code the
 * main thread runs (encodeBlock), so a block's embeddings are the same floats wherever it is encoded.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../backend';
import { encodeBlock, type ImageBlock } from './image-block';
import { VlmModel, type VlmConfig } from './model';

/** What the pool hands a worker when it starts it. */
export interface EncodeWorkerData {
  config: VlmConfig;
  /** Every parameter of the model by name, with its shape. */
  weights: Array<{ name: string; shape: number[]; data: Float32Array }>;
  threads: number;
}

/** A job: one block to encode. */
export interface EncodeJob { id: number; block: ImageBlock }

export type EncodeWorkerMessage =
  | { type: 'ready' }
  | { type: 'failed'; message: string }
  | { type: 'done'; id: number; patches: Float32Array }
  | { type: 'error'; id: number; message: string };

async function main(): Promise<void> {
  const port = parentPort!;
  const data = workerData as EncodeWorkerData;
  let model: VlmModel;
  try {
    const info = await initBackend('wasm', { threads: data.threads });
    if (info.name !== 'wasm') throw new Error(`the worker's backend is ${info.name}, not wasm`);
    model = new VlmModel(data.config, 0);
    for (const w of data.weights) {
      const v = model.params.get(w.name);
      if (!v || v.shape.join('x') !== w.shape.join('x')) throw new Error(`the worker's model has no weight ${w.name} of shape ${w.shape.join('x')}`);
      tf.tidy(() => v.assign(tf.tensor(w.data, w.shape)));
    }
    if (model.params.size !== data.weights.length) throw new Error(`the worker got ${data.weights.length} weights for a model of ${model.params.size}`);
  } catch (e) {
    port.postMessage({ type: 'failed', message: (e as Error).message } satisfies EncodeWorkerMessage);
    return;
  }
  port.on('message', (job: EncodeJob) => {
    try {
      const out = encodeBlock(model, job.block);
      // Transfer the whole buffer only when the array owns it alone.
      const patches = out.byteOffset === 0 && out.byteLength === out.buffer.byteLength ? out : out.slice();
      port.postMessage({ type: 'done', id: job.id, patches } satisfies EncodeWorkerMessage, [patches.buffer as ArrayBuffer]);
    } catch (e) {
      port.postMessage({ type: 'error', id: job.id, message: (e as Error).message } satisfies EncodeWorkerMessage);
    }
  });
  port.postMessage({ type: 'ready' } satisfies EncodeWorkerMessage);
}

void main();
