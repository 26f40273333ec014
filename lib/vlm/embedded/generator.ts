import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { activeBackend, initBackend } from '../../backend';
import type { ImageSplit } from '../../data/types';
import { UserError } from '../../util/errors';
import type { MapBatch, MapGenerator, MapGeneratorIdentity, MapRequest, PromptRequest } from '../../maps/types';
import { requestIndices } from '../../maps/generators/common';
import { MAP_SOURCE } from '../../maps/registry';
import { defaultCheckpointDir, loadCheckpoint, type LoadedVlm, type MapDefaults } from './checkpoint';
import { blockTensor, gatherBlock } from './image-block';
import { MapEngine, upsampleBilinear } from './map-engine';
import type { VlmModel } from './model';
import { describeMapping } from './lexicon';
import { PatchCache } from './patch-cache';
import { TextEncoder } from './text-encoder';
import type { PromptReading, Vocabulary } from './tokenizer';

/** Background prompts when neither the request nor the checkpoint names any (the paper's, minus "clean origami"). */
export const FALLBACK_BACKGROUND = ['background', 'black', 'dark', 'nothing'];

/** Selected images of a split as a float RGB tensor [n, H, W, 3] (grey images repeated on 3 channels). */
export function splitImages(split: ImageSplit, idx: ArrayLike<number>): tf.Tensor4D {
  return blockTensor(gatherBlock(split, idx));
}

export interface PromptMapOptions {
  prompt: string;
  background: string[];
  /** Divides the scaled similarities before the softmax; < 1 sharpens the map. */
  temperature: number;
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
}

/**
 * Dense maps of a prompt, the plain way (one tfjs pass per batch on this thread; the reference the
 * generator's faster path, map-engine.ts, is tested against): per patch, softmax over [prompt, ...background prompts] of the model's scaled
 * patch-text cosine similarities (divided by the temperature), the prompt's share; 14x14 grid upsampled
 * bilinearly to the image size. Values in [0, 1].
 */
export function promptMaps(model: VlmModel, vocab: Vocabulary, split: ImageSplit, idx: ArrayLike<number>, o: PromptMapOptions): MapBatch {
  const { height: H, width: W } = split;
  if (H % 2 || W % 2) throw new UserError(`the embedded VLM needs even image sizes, got ${H}x${W}`);
  if (!o.background.length) throw new UserError('the embedded VLM needs at least one background prompt');
  if (!(o.temperature > 0)) throw new UserError(`map temperature must be > 0, got ${o.temperature}`);
  const n = idx.length, bs = o.batchSize ?? 256, gh = H / 2, gw = W / 2;
  const grid = new Float32Array(n * gh * gw);
  const [fg, bg] = tf.tidy(() => [
    model.encodeTexts(TextEncoder.bagOfTexts(vocab, [o.prompt], model.config.maxLen)),
    model.encodeTexts(TextEncoder.bagOfTexts(vocab, o.background, model.config.maxLen)),
  ]);
  try {
    for (let s = 0; s < n; s += bs) {
      const part = Array.from({ length: Math.min(bs, n - s) }, (_, k) => idx[s + k]);
      const m = tf.tidy(() => {
        const { patches } = model.encodeImages(splitImages(split, part));
        return model.gridMaps(patches, fg, bg, o.temperature);
      });
      grid.set(m.dataSync() as Float32Array, s * gh * gw);
      m.dispose();
      o.onProgress?.(s + part.length, n);
    }
  } finally {
    fg.dispose();
    bg.dispose();
  }
  return { count: n, height: H, width: W, data: upsampleBilinear(grid, n, gh, gw, H, W) };
}

/**
 * One line saying how the embedded VLM reads a prompt's words, or '' when it knows them all:
 * `prompt "jeans near a xylophone": read "jeans" as "trousers" (WordNet hypernym, 1 up); the embedded VLM does not know "xylophone" (read as <unk>)`.
 */
export function describeReading(role: string, text: string, r: PromptReading): string {
  if (!r.mapped.length && !r.unknown.length) return '';
  const parts: string[] = [];
  if (r.mapped.length) {
    parts.push(`read ${r.mapped.map(describeMapping).join(', ')}`);
  }
  if (r.unknown.length) parts.push(`the embedded VLM does not know ${r.unknown.map((w) => JSON.stringify(w)).join(', ')} (read as <unk>)`);
  return `${role} ${JSON.stringify(text)}: ${parts.join('; ')}`;
}

/**
 * Checks the words of a prompt (and of its background prompts) against the VLM's vocabulary. A word the
 * vocabulary lacks is read as the known word WordNet maps it to ("a figure" -> digit), else as <unk>; a
 * prompt with no known or mapped word at all gives a map that means nothing (every such prompt gives the
 * same map). That is a UserError unless `allowUnknown`; mapped and unknown words get one line through `warn`.
 */
export function checkPromptWords(
  vocab: Vocabulary, prompt: string, background: readonly string[] = [],
  o: { allowUnknown?: boolean; warn?: (msg: string) => void; /** The override to name in the error (null: none). */ allowFlag?: string | null } = {},
): void {
  for (const [role, text] of [['prompt', prompt], ...background.map((b) => ['background prompt', b])] as const) {
    const r = vocab.read(text);
    if (!r.known.length && !r.mapped.length) {
      const what = r.words.length === 0 ? 'has no words (letters or digits) for the embedded VLM to read' : `has no word the embedded VLM knows (unknown: ${r.unknown.join(', ')}), nor one WordNet maps to a known word`;
      const msg = `${role} ${JSON.stringify(text)} ${what}: its map would mean nothing (every such prompt gives the same map)`;
      if (!o.allowUnknown) throw new UserError(`${msg}; rephrase it (e.g. "a digit")${o.allowFlag === null ? '' : ` or pass ${o.allowFlag ?? '--allow-unknown-prompt (ltl maps, ltl vlm eval)'}`}`);
      o.warn?.(`${msg} (allowed by --allow-unknown-prompt)`);
    } else {
      const line = describeReading(role, text, r);
      if (line) o.warn?.(line);
    }
  }
}

/** How a vocabulary reads the words of some texts that it does not know (mapped words and their blends, unknown words);
 * undefined when it knows them all. */
export function untaughtReading(vocab: { read(text: string): { mapped: unknown[]; unknown: string[] } }, texts: readonly string[]): unknown[] | undefined {
  const parts = texts.map((t) => vocab.read(t)).map((r) => ({ mapped: r.mapped, unknown: r.unknown }));
  return parts.some((p) => p.mapped.length || p.unknown.length) ? parts : undefined;
}

/** Warnings of the library go through Node's warning channel unless a caller collects them. */
const emitWarning = (msg: string): void => process.emitWarning(msg, 'LtlPromptWarning');

export interface EmbeddedGeneratorOptions {
  /** Checkpoint folder (default: data/vlm of the package). */
  checkpoint?: string;
  /** Overrides the checkpoint's default map temperature. */
  temperature?: number;
  /** Images per forward pass (default 256). */
  batchSize?: number;
  /** Make maps even for a prompt with no word the model knows (a warning instead of an error). */
  allowUnknownPrompt?: boolean;
  /** Receives warnings about unknown prompt words (default: process.emitWarning); each prompt is warned about once. */
  warn?: (msg: string) => void;
  /**
   * Worker threads that encode images, each with its own wasm backend (default: env LTL_MAP_WORKERS, else
   * LTL_THREADS, else one per core; a default of 1 means the calling thread; 0: the calling thread only).
   * Only on the wasm backend; the maps are the same either way.
   */
  workers?: number;
  /**
   * Bytes of patch embeddings kept in memory, so that more prompts on the same images skip the encoder
   * (default: env LTL_VLM_PATCH_MEMORY_MB in MiB, else 512 MiB, ~10,000 28x28 images; 0: none).
   */
  patchMemoryBytes?: number;
  /**
   * Folder of the on-disk patch cache (default: env LTL_VLM_PATCH_CACHE_DIR; unset: none). 50 KB per 28x28
   * image: 2.5 GB for a 50,400-image training split. See patch-cache.ts.
   */
  patchCacheDir?: string;
}

/** A non-negative integer: the option if given, else the environment variable, else the fallback. */
function countSetting(value: number | undefined, what: string, env: string, fallback: number): number {
  if (value !== undefined) {
    if (!(Number.isInteger(value) && value >= 0)) throw new UserError(`the embedded generator's ${what} must be an integer >= 0, not ${value}`);
    return value;
  }
  const text = process.env[env];
  if (text === undefined || text === '') return fallback;
  const v = Number(text);
  if (!(Number.isInteger(v) && v >= 0)) throw new UserError(`${env} must be an integer >= 0, not '${text}'`);
  return v;
}

/**
 * MapGenerator 'embedded': the project's own small image-text model. Loads the checkpoint lazily on the
 * first request (so constructing it is free and a missing checkpoint is reported when used).
 */
export class EmbeddedGenerator implements MapGenerator {
  readonly name = MAP_SOURCE.embedded;
  readonly usesPrompt = true;
  private loaded?: LoadedVlm;
  private engine_?: MapEngine;
  private readonly checked = new Set<string>();

  constructor(private readonly opts: EmbeddedGeneratorOptions = {}) {}

  /** The loaded checkpoint (loads it if needed). */
  load(): LoadedVlm {
    if (!this.loaded) this.loaded = loadCheckpoint(this.opts.checkpoint ?? defaultCheckpointDir());
    return this.loaded;
  }

  get defaults(): MapDefaults {
    const d = this.load().meta.mapDefaults;
    return { background: d?.background ?? FALLBACK_BACKGROUND, temperature: this.opts.temperature ?? d?.temperature ?? 1 };
  }

  /** The map engine (encoder workers, patch cache) behind generate and generatePrompts. */
  get engine(): MapEngine {
    if (!this.engine_) {
      // One worker per core, unless LTL_THREADS gives this process fewer cores (ltl sweep --workers does).
      const cores = countSetting(undefined, 'threads', 'LTL_THREADS', os.availableParallelism()) || os.availableParallelism();
      const workers = countSetting(this.opts.workers, 'workers', 'LTL_MAP_WORKERS', cores > 1 ? cores : 0);
      const memoryBytes = this.opts.patchMemoryBytes !== undefined
        ? countSetting(this.opts.patchMemoryBytes, 'patch memory', '', 0)
        : countSetting(undefined, 'patch memory', 'LTL_VLM_PATCH_MEMORY_MB', 512) * 2 ** 20;
      const { model, vocab, meta } = this.load();
      const warn = this.opts.warn ?? emitWarning;
      this.engine_ = new MapEngine(model, vocab, {
        batchSize: this.opts.batchSize ?? 256,
        workers,
        checkpoint: meta.identity,
        cache: new PatchCache({ memoryBytes, dir: this.opts.patchCacheDir ?? (process.env.LTL_VLM_PATCH_CACHE_DIR || undefined), warn }),
        warn,
      });
    }
    return this.engine_;
  }

  /**
   * Chooses the backend if no one has, loads the model and starts the encoder workers, resolving whether
   * they run (false: images are encoded on the calling thread). Requests start the workers on their own;
   * this is for timing steady-state rates and for tests.
   */
  async startWorkers(): Promise<boolean> {
    if (!activeBackend()) await initBackend();
    return this.engine.startWorkers();
  }

  /** Its maps are those of a checkpoint (by content hash), a temperature and background prompts. */
  identity(): MapGeneratorIdentity {
    const d = this.defaults;
    return { id: { checkpoint: this.load().meta.identity, temperature: d.temperature }, background: [...d.background] };
  }

  untaughtReading(texts: readonly string[]): unknown[] | undefined {
    return untaughtReading(this.load().vocab, texts);
  }

  checkPrompt(prompt: string, background: readonly string[], warn?: (msg: string) => void): void {
    checkPromptWords(this.load().vocab, prompt, background, { allowUnknown: this.opts.allowUnknownPrompt, warn });
  }

  async generate(req: MapRequest): Promise<MapBatch> {
    const [maps] = await this.generatePrompts(req, [{ prompt: req.prompt, background: req.background }]);
    return maps;
  }

  /**
   * Maps of several prompts of the same images in one pass: the images are encoded once (the expensive
   * part) and each prompt costs only its projection. Each result is what generate() gives for that prompt.
   */
  async generatePrompts(req: Omit<MapRequest, 'prompt' | 'background'>, prompts: PromptRequest[]): Promise<MapBatch[]> {
    // Callers that never chose a backend (a notebook, a CLI command) get the project's default (wasm),
    // not tfjs's pure-JS fallback, which is ~10x slower.
    if (!activeBackend()) await initBackend();
    const { vocab } = this.load();
    const idx = requestIndices(req);
    const d = this.defaults;
    const resolved = prompts.map((p) => ({ prompt: p.prompt, background: p.background?.length ? p.background : d.background }));
    for (const p of resolved) {
      const key = JSON.stringify([p.prompt, p.background]);
      if (!this.checked.has(key)) {
        checkPromptWords(vocab, p.prompt, p.background, { allowUnknown: this.opts.allowUnknownPrompt, warn: this.opts.warn ?? emitWarning });
        this.checked.add(key);
      }
    }
    return this.engine.maps(req.split, idx, resolved, d.temperature, req.onProgress);
  }

  dispose(): void {
    this.engine_?.dispose();
    this.engine_ = undefined;
    this.loaded?.model.dispose();
    this.loaded = undefined;
  }
}
