import * as tf from '@tensorflow/tfjs';
import { activeBackend, initBackend } from '../../backend';
import type { ImageSplit } from '../../data/types';
import { UserError } from '../../util/errors';
import type { MapBatch, MapGenerator, MapGeneratorIdentity, MapRequest } from '../../maps/types';
import { resizeBilinearRaw } from '../../maps/postprocess';
import { requestIndices } from '../../maps/generators/common';
import { defaultCheckpointDir, loadCheckpoint, type LoadedVlm, type MapDefaults } from './checkpoint';
import type { VlmModel } from './model';
import { describeMapping } from './lexicon';
import { TextEncoder } from './text-encoder';
import type { PromptReading, Vocabulary } from './tokenizer';

/** Background prompts when neither the request nor the checkpoint names any (the paper's, minus "clean origami"). */
export const FALLBACK_BACKGROUND = ['background', 'black', 'dark', 'nothing'];

/**
 * Upsamples grid maps [n, gh, gw] to [n, H, W] bilinearly with half-pixel centres (each grid cell's value
 * sits at its cell's centre; edges are clamped), the convention of tf.image.resizeBilinear with
 * halfPixelCenters. A 14x14 grid on 28x28 images: each cell is a 2x2 pixel block.
 */
export function upsampleBilinear(grid: Float32Array, n: number, gh: number, gw: number, H: number, W: number): Float32Array {
  return resizeBilinearRaw(grid, n, gh, gw, 1, H, W);
}

/** Selected images of a split as a float RGB tensor [n, H, W, 3] (grey images repeated on 3 channels). */
export function splitImages(split: ImageSplit, idx: ArrayLike<number>): tf.Tensor4D {
  const { height: H, width: W, channels: C } = split;
  const n = idx.length;
  const out = new Float32Array(n * H * W * 3);
  for (let k = 0; k < n; k++) {
    const src = idx[k] * H * W * C;
    for (let p = 0; p < H * W; p++) {
      for (let c = 0; c < 3; c++) out[(k * H * W + p) * 3 + c] = split.images[src + p * C + (C === 3 ? c : 0)];
    }
  }
  return tf.tensor4d(out, [n, H, W, 3]);
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
 * Dense maps of a prompt: per patch, softmax over [prompt, ...background prompts] of the model's scaled
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
 * `prompt "a sneaker near a xylophone": read "sneaker" as "shoe" (WordNet hypernym, 1 up); the embedded VLM does not know "xylophone" (read as <unk>)`.
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
}

/**
 * MapGenerator 'embedded': the project's own small image-text model. Loads the checkpoint lazily on the
 * first request (so constructing it is free and a missing checkpoint is reported when used).
 */
export class EmbeddedGenerator implements MapGenerator {
  readonly name = 'embedded';
  readonly usesPrompt = true;
  private loaded?: LoadedVlm;
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
    // Callers that never chose a backend (a notebook, a CLI command) get the project's default (wasm),
    // not tfjs's pure-JS fallback, which is ~10x slower.
    if (!activeBackend()) await initBackend();
    const { model, vocab } = this.load();
    const idx = requestIndices(req);
    const d = this.defaults;
    const background = req.background?.length ? req.background : d.background;
    const key = JSON.stringify([req.prompt, background]);
    if (!this.checked.has(key)) {
      checkPromptWords(vocab, req.prompt, background, { allowUnknown: this.opts.allowUnknownPrompt, warn: this.opts.warn ?? emitWarning });
      this.checked.add(key);
    }
    return promptMaps(model, vocab, req.split, idx, {
      prompt: req.prompt, background,
      temperature: d.temperature, batchSize: this.opts.batchSize, onProgress: req.onProgress,
    });
  }

  dispose(): void {
    this.loaded?.model.dispose();
    this.loaded = undefined;
  }
}
