import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { writeFileAtomic } from '../../util/atomic';
import { parseSealedJson, writeSealedJson } from '../../util/sealed';
import { UserError } from '../../util/errors';
import { sha256 } from '../../util/hash';
import { packageRoot } from '../../util/package-root';
import { VlmModel, type VlmConfig } from './model';
import { Vocabulary } from './tokenizer';

/**
 * Checkpoint of the embedded VLM: a folder with
 *   model.json   format tag, model config, and the weight manifest (name, shape, offset in floats);
 *   weights.bin  all weights as little-endian float32, in manifest order;
 *   vocab.json   the word list (index = token id);
 *   meta.json    training config, seed, steps, timings, evaluation figures, default map settings, and
 *                the size and sha256 of each of the other three files; sealed with the SHA-256 of its
 *                own content (lib/util/sealed), so no byte of the checkpoint can change unnoticed.
 * Loading checks every file and says which is missing or corrupt.
 */
export const CHECKPOINT_FORMAT = 'ltl-embedded-vlm';
export const CHECKPOINT_VERSION = 1;
export const CHECKPOINT_FILES = ['model.json', 'weights.bin', 'vocab.json', 'meta.json'] as const;

export interface WeightEntry { name: string; shape: number[]; offset: number; size: number }
export interface ModelJson { format: string; version: number; config: VlmConfig; weights: WeightEntry[] }

/** Settings the generator uses when the request leaves them out (chosen on validation data, never test). */
export interface MapDefaults { background: string[]; temperature: number }

export interface CheckpointMeta {
  createdAt: string;
  seed: number;
  steps: number;
  batch: number;
  training: Record<string, unknown>;
  backend: string;
  trainSeconds: number;
  imagesPerSecond: number;
  parameterCount: number;
  finalLoss?: Record<string, number>;
  mapDefaults: MapDefaults;
  evaluation?: Record<string, unknown>;
  files: Record<string, { bytes: number; sha256: string }>;
}

export interface LoadedVlm { model: VlmModel; vocab: Vocabulary; meta: CheckpointMeta; dir: string }

export { packageRoot };

/** The committed checkpoint: data/vlm under the package root. */
export function defaultCheckpointDir(): string {
  return path.join(packageRoot(), 'data', 'vlm');
}

/** Writes a checkpoint (each file atomically; meta.json last, with the others' checksums). */
export function saveCheckpoint(
  dir: string, model: VlmModel, vocab: Vocabulary, meta: Omit<CheckpointMeta, 'files' | 'parameterCount'>,
): CheckpointMeta {
  const entries: WeightEntry[] = [];
  let offset = 0;
  for (const [name, v] of model.params) {
    entries.push({ name, shape: v.shape.slice(), offset, size: v.size });
    offset += v.size;
  }
  const all = new Float32Array(offset);
  for (const e of entries) all.set(model.params.get(e.name)!.dataSync() as Float32Array, e.offset);
  const weights = new Uint8Array(all.buffer);
  const modelJson: ModelJson = { format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, config: model.config, weights: entries };
  const texts: Record<string, Uint8Array> = {
    'model.json': Buffer.from(JSON.stringify(modelJson, null, 1) + '\n'),
    'weights.bin': weights,
    'vocab.json': Buffer.from(JSON.stringify(vocab.toJSON()) + '\n'),
  };
  const files: CheckpointMeta['files'] = {};
  for (const [f, data] of Object.entries(texts)) {
    writeFileAtomic(path.join(dir, f), data);
    files[f] = { bytes: data.byteLength, sha256: sha256(data) };
  }
  const full: CheckpointMeta = { ...meta, parameterCount: model.parameterCount, files };
  writeSealedJson(path.join(dir, 'meta.json'), full);
  return full;
}

function readJson<T>(file: string): T {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch (e) {
    throw new UserError(`VLM checkpoint file ${file} is corrupt: not valid JSON (${(e as Error).message})`);
  }
}

/** Reads and checks a checkpoint folder; throws UserError naming what is missing or corrupt. */
export function loadCheckpoint(dir: string = defaultCheckpointDir()): LoadedVlm {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw new UserError(`VLM checkpoint folder ${dir} does not exist (train one with 'ltl vlm train --out ${dir}')`);
  }
  const missing = CHECKPOINT_FILES.filter((f) => !fs.existsSync(path.join(dir, f)));
  if (missing.length) throw new UserError(`VLM checkpoint ${dir} is missing ${missing.join(', ')}`);
  const metaFile = path.join(dir, 'meta.json');
  const meta = parseSealedJson<CheckpointMeta>(fs.readFileSync(metaFile, 'utf8'), metaFile, 'VLM checkpoint file');
  if (!meta || typeof meta !== 'object' || !meta.files) throw new UserError(`VLM checkpoint file ${path.join(dir, 'meta.json')} is corrupt: no 'files' checksums`);
  const bytes: Record<string, Buffer> = {};
  for (const f of ['model.json', 'weights.bin', 'vocab.json']) {
    const data = fs.readFileSync(path.join(dir, f));
    const want = meta.files[f];
    if (!want) throw new UserError(`VLM checkpoint file ${path.join(dir, 'meta.json')} is corrupt: no checksum for ${f}`);
    if (data.byteLength !== want.bytes || sha256(data) !== want.sha256) {
      throw new UserError(`VLM checkpoint file ${path.join(dir, f)} is corrupt: its size or sha256 differs from meta.json (${data.byteLength} bytes, expected ${want.bytes})`);
    }
    bytes[f] = data;
  }
  const modelJson = readJson<ModelJson>(path.join(dir, 'model.json'));
  if (modelJson.format !== CHECKPOINT_FORMAT || modelJson.version !== CHECKPOINT_VERSION) {
    throw new UserError(`VLM checkpoint file ${path.join(dir, 'model.json')} has format ${modelJson.format} v${modelJson.version}; expected ${CHECKPOINT_FORMAT} v${CHECKPOINT_VERSION}`);
  }
  const words = readJson<string[]>(path.join(dir, 'vocab.json'));
  const vocab = new Vocabulary(words);
  if (vocab.size !== modelJson.config.text.vocabSize) {
    throw new UserError(`VLM checkpoint ${dir}: vocab.json has ${vocab.size} words but the model expects ${modelJson.config.text.vocabSize}`);
  }
  const w = bytes['weights.bin'];
  const floats = new Float32Array(w.buffer.slice(w.byteOffset, w.byteOffset + w.byteLength));
  const model = new VlmModel(modelJson.config, 0);
  for (const e of modelJson.weights) {
    const v = model.params.get(e.name);
    if (!v) throw new UserError(`VLM checkpoint file ${path.join(dir, 'model.json')} names an unknown weight ${e.name}`);
    if (v.shape.join('x') !== e.shape.join('x') || e.offset + e.size > floats.length) {
      throw new UserError(`VLM checkpoint weight ${e.name} has shape ${e.shape.join('x')} at ${e.offset}; the model needs ${v.shape.join('x')} within ${floats.length} floats`);
    }
    tf.tidy(() => v.assign(tf.tensor(floats.subarray(e.offset, e.offset + e.size), e.shape)));
  }
  // By name, not by count: a manifest naming one weight twice must not hide a missing one.
  const have = new Set(modelJson.weights.map((e) => e.name));
  const lack = [...model.params.keys()].filter((k) => !have.has(k));
  if (lack.length) {
    throw new UserError(`VLM checkpoint file ${path.join(dir, 'model.json')} lacks weights ${lack.join(', ')}`);
  }
  return { model, vocab, meta, dir };
}
