import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { EncodeWorkerData, EncodeWorkerMessage } from './encode-worker';
import { patchFloats, sliceBlock, type ImageBlock } from './image-block';
import type { VlmModel } from './model';

export interface EncodePoolOptions {
  /** Worker threads (>= 1). */
  workers: number;
  /** Images per job: a block is cut into jobs of this many images so that every worker has some (default 64). */
  jobImages?: number;
  /** The workers are stopped after this long without work (their memory freed; restarted on demand). Default 15 s. */
  idleMs?: number;
}

interface Pending { id: number; block: ImageBlock; resolve: (p: Float32Array) => void; reject: (e: Error) => void }
interface Slot { worker: Worker; job?: Pending }

/**
 * The image encoder on worker threads, each with its own tfjs wasm backend (one thread each): the wasm
 * backend computes on one core, so N workers encode about N times as many images per second on N free
 * cores. Every worker runs the main thread's encodeBlock on a copy of the same weights, and a block's
 * patch embeddings do not depend on what else is in its batch, so the floats are those of the main thread.
 *
 * Lifecycle: start() launches the workers in the background (about a second: each loads tfjs and the
 * weights); encode() needs `ready`. Idle workers never keep the process alive (unref'd), and are stopped
 * after `idleMs` without work. A worker that fails makes the pool `broken` (the caller encodes on its own
 * thread instead, with the same results).
 */
export class EncodePool {
  private state: 'off' | 'starting' | 'ready' | 'broken' = 'off';
  private failure?: string;
  private slots: Slot[] = [];
  private queue: Pending[] = [];
  private nextId = 0;
  private idleTimer?: NodeJS.Timeout;
  private readyWaiters: Array<(ok: boolean) => void> = [];

  constructor(private readonly model: VlmModel, private readonly opts: EncodePoolOptions) {
    if (!(Number.isInteger(opts.workers) && opts.workers >= 1)) throw new Error(`an encode pool needs >= 1 workers, not ${opts.workers}`);
  }

  get ready(): boolean {
    return this.state === 'ready';
  }

  /** Why the pool stopped being used, once it is broken. */
  get brokenReason(): string | undefined {
    return this.state === 'broken' ? this.failure : undefined;
  }

  get workers(): number {
    return this.opts.workers;
  }

  /** Launches the workers if they are not running (returns at once). */
  start(): void {
    if (this.state !== 'off') return;
    const source = workerSource();
    if (!source) return this.fail('no worker entry next to encode-pool (and no tsx to run its TypeScript source)');
    this.state = 'starting';
    const data: EncodeWorkerData = {
      config: this.model.config,
      weights: [...this.model.params.entries()].map(([name, v]) => ({ name, shape: v.shape.slice(), data: v.dataSync() as Float32Array })),
      threads: 1,
    };
    let readyCount = 0;
    for (let i = 0; i < this.opts.workers; i++) {
      let worker: Worker;
      try {
        worker = new Worker(source.code, { eval: true, workerData: data });
      } catch (e) {
        return this.fail(`a worker thread failed to start (${(e as Error).message})`);
      }
      worker.unref();
      const slot: Slot = { worker };
      this.slots.push(slot);
      worker.on('message', (m: EncodeWorkerMessage) => {
        if (m.type === 'ready') {
          if (++readyCount === this.opts.workers && this.state === 'starting') {
            this.state = 'ready';
            this.settleWaiters(true);
            this.pump();
          }
        } else if (m.type === 'failed') {
          this.fail(`a worker could not load the model (${m.message})`);
        } else if (slot.job && slot.job.id === m.id) {
          const job = slot.job;
          slot.job = undefined;
          if (m.type === 'done') job.resolve(m.patches); else job.reject(new Error(m.message));
          this.pump();
        }
      });
      worker.on('error', (e) => this.fail(`a worker thread failed (${e.message})`));
      worker.on('exit', (code) => {
        if (this.slots.includes(slot)) this.fail(`a worker thread exited (code ${code})`);
      });
    }
  }

  /** Resolves true once the workers are ready, false if they cannot be used. */
  whenReady(): Promise<boolean> {
    this.start();
    if (this.state === 'ready') return Promise.resolve(true);
    if (this.state === 'broken') return Promise.resolve(false);
    return new Promise((res) => this.readyWaiters.push(res));
  }

  /** Patch embeddings of a block, cut into jobs spread over the workers (needs `ready`). */
  encode(block: ImageBlock): Promise<Float32Array> {
    if (this.state !== 'ready') return Promise.reject(new Error(this.failure ?? 'the encode pool is not ready'));
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    const per = patchFloats(this.model, block.height, block.width);
    const step = Math.max(1, Math.min(this.opts.jobImages ?? 64, Math.ceil(block.count / this.opts.workers)));
    const parts: Array<Promise<Float32Array>> = [];
    for (let s = 0; s < block.count; s += step) {
      const part = sliceBlock(block, s, Math.min(block.count, s + step));
      // Own copy of the bytes: they move to the worker.
      const copy: ImageBlock = { ...part, bytes: part.bytes.slice() };
      parts.push(new Promise((resolve, reject) => this.queue.push({ id: this.nextId++, block: copy, resolve, reject })));
    }
    this.pump();
    return Promise.all(parts).then((done) => {
      const out = new Float32Array(block.count * per);
      let at = 0;
      for (const d of done) {
        out.set(d, at);
        at += d.length;
      }
      if (at !== out.length) throw new Error(`the workers returned ${at} floats for ${block.count} images (${out.length} expected)`);
      return out;
    });
  }

  /** Stops the workers (pending jobs fail); start() launches new ones. */
  dispose(): void {
    if (this.state === 'broken') return;
    this.stopWorkers(new Error('the encode pool was disposed'));
    this.state = 'off';
    this.settleWaiters(false);
  }

  private pump(): void {
    if (this.state !== 'ready') return;
    for (const slot of this.slots) {
      if (slot.job) continue;
      const job = this.queue.shift();
      if (!job) {
        slot.worker.unref();
        continue;
      }
      slot.job = job;
      slot.worker.ref(); // a job in flight keeps the process alive until its answer
      slot.worker.postMessage({ id: job.id, block: job.block }, [job.block.bytes.buffer as ArrayBuffer]);
    }
    if (!this.queue.length && this.slots.every((s) => !s.job) && !this.idleTimer) {
      this.idleTimer = setTimeout(() => {
        this.idleTimer = undefined;
        if (this.state === 'ready' && !this.queue.length && this.slots.every((s) => !s.job)) this.dispose();
      }, this.opts.idleMs ?? 15_000);
      this.idleTimer.unref();
    }
  }

  private fail(reason: string): void {
    if (this.state === 'broken') return;
    this.failure = reason;
    this.state = 'broken';
    this.stopWorkers(new Error(reason));
    this.settleWaiters(false);
  }

  private stopWorkers(err: Error): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    const slots = this.slots;
    this.slots = [];
    for (const s of slots) {
      s.job?.reject(err);
      void s.worker.terminate();
    }
    for (const j of this.queue.splice(0)) j.reject(err);
  }

  private settleWaiters(ok: boolean): void {
    for (const w of this.readyWaiters.splice(0)) w(ok);
  }
}

/**
 * The code a worker runs: require the compiled entry (dist/...js) or, when this module runs from its
 * TypeScript source (tests, scripts under tsx), register tsx's require hook in the worker first
 * (a worker does not inherit the main thread's loader hooks).
 */
function workerSource(): { code: string } | undefined {
  const ext = path.extname(__filename);
  const entry = path.join(__dirname, `encode-worker${ext}`);
  if (!fs.existsSync(entry)) return undefined;
  if (ext === '.js') return { code: `require(${JSON.stringify(entry)});` };
  let hook: string;
  try {
    hook = require.resolve('tsx/cjs', { paths: [__dirname] });
  } catch {
    return undefined;
  }
  return { code: `require(${JSON.stringify(hook)}); require(${JSON.stringify(entry)});` };
}
