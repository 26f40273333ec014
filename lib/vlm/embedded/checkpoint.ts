import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { writeFileAtomic } from '../../util/atomic';
import { canonicalJson } from '../../util/canonical-json';
import { DATA_SHA256, decodeTensorFile, encodeTensorFile, type Tensor } from '../../util/tensor-file';
import { parseSealedJson, writeSealedJson } from '../../util/sealed';
import { UserError } from '../../util/errors';
import { sha256 } from '../../util/hash';
import { packageRoot } from '../../util/package-root';
import { VlmModel, type VlmConfig } from './model';
import { Vocabulary } from './tokenizer';
import { placeWords } from './corpus';

/**
 * Checkpoint of the embedded VLM: a folder with
 *   model.json           format tag, model config, and the weight manifest (name, shape, offset in floats);
 *   weights.safetensors  all weights as float32 tensors named as in the manifest, in manifest order, so the
 *                        tensor bytes are the floats end to end (lib/util/tensor-file; PyTorch reads it with
 *                        safetensors.torch.load_file);
 *   vocab.json           the word list (index = token id);
 *   meta.json            training config, seed, steps, timings, evaluation figures, default map settings, the
 *                        size and sha256 of each of the other three files, and the checkpoint's identity;
 *                        sealed with the SHA-256 of its own content (lib/util/sealed).
 * Loading checks every file and says which is missing or corrupt. Folders of the format before tensor
 * files (weights.bin) are recognised only to say so.
 */
export const CHECKPOINT_FORMAT = 'ltl-embedded-vlm';
/** The version of model.json (config and manifest); the weights' file format is the tensor file's. */
export const CHECKPOINT_VERSION = 1;
export const CHECKPOINT_FILES = ['model.json', 'weights.safetensors', 'vocab.json', 'meta.json'] as const;
const OLD_WEIGHTS = 'weights.bin';

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
  /** checkpointIdentity: what map caches and provenance records name the checkpoint by. */
  identity: string;
}

/**
 * The checkpoint's identity, defined on content (model.json's config and manifest, the float32
 * weights end to end, the vocabulary), not on how the weights file is laid out: the SHA-256 of the
 * canonical JSON of { 'model.json': {bytes, sha256}, 'weights.bin': {bytes, sha256 of the floats},
 * 'vocab.json': {bytes, sha256} }. That is the identity the checkpoint had when its weights were a raw
 * weights.bin, so map cache keys and the provenance of committed results keep their value.
 */
export function checkpointIdentity(parts: { modelJson: { bytes: number; sha256: string }; weights: { bytes: number; sha256: string }; vocabJson: { bytes: number; sha256: string } }): string {
  return sha256(Buffer.from(canonicalJson({ 'model.json': parts.modelJson, 'weights.bin': parts.weights, 'vocab.json': parts.vocabJson })));
}

export interface LoadedVlm { model: VlmModel; vocab: Vocabulary; meta: CheckpointMeta; dir: string }

export { packageRoot };

/** The committed checkpoint: data/vlm under the package root. */
export function defaultCheckpointDir(): string {
  return path.join(packageRoot(), 'data', 'vlm');
}

/** Writes a checkpoint (each file atomically; meta.json last, with the others' checksums). */
export function saveCheckpoint(
  dir: string, model: VlmModel, vocab: Vocabulary, meta: Omit<CheckpointMeta, 'files' | 'parameterCount' | 'identity'>,
): CheckpointMeta {
  const entries: WeightEntry[] = [];
  const tensors: Array<[string, Tensor]> = [];
  let offset = 0;
  for (const [name, v] of model.params) {
    entries.push({ name, shape: v.shape.slice(), offset, size: v.size });
    tensors.push([name, { dtype: 'F32', shape: v.shape.slice(), data: (v.dataSync() as Float32Array).slice() }]);
    offset += v.size;
  }
  const modelJson: ModelJson = { format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, config: model.config, weights: entries };
  const weights = encodeTensorFile(tensors, { format: CHECKPOINT_FORMAT, config: JSON.stringify(model.config) });
  const texts: Record<string, Uint8Array> = {
    'model.json': Buffer.from(JSON.stringify(modelJson, null, 1) + '\n'),
    'weights.safetensors': weights,
    'vocab.json': Buffer.from(JSON.stringify(vocab.toJSON()) + '\n'),
  };
  const files: CheckpointMeta['files'] = {};
  for (const [f, data] of Object.entries(texts)) {
    writeFileAtomic(path.join(dir, f), data);
    files[f] = { bytes: data.byteLength, sha256: sha256(data) };
  }
  const floats = decodeTensorFile(weights, 'weights.safetensors');
  const identity = checkpointIdentity({
    modelJson: files['model.json'], vocabJson: files['vocab.json'],
    weights: { bytes: offset * 4, sha256: floats.metadata[DATA_SHA256] },
  });
  const full: CheckpointMeta = { ...meta, parameterCount: model.parameterCount, files, identity };
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
  if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) {
    throw new UserError(`VLM checkpoint ${dir} is a file, not a folder (a checkpoint is the folder 'ltl vlm train --out' writes)`);
  }
  if (!fs.existsSync(dir)) {
    throw new UserError(`VLM checkpoint folder ${dir} does not exist (train one with 'ltl vlm train --out ${dir}')`);
  }
  const missing = CHECKPOINT_FILES.filter((f) => !fs.existsSync(path.join(dir, f)));
  if (missing.includes('weights.safetensors') && fs.existsSync(path.join(dir, OLD_WEIGHTS))) {
    throw new UserError(`VLM checkpoint ${dir} is in the old format (${OLD_WEIGHTS}, before tensor files in the safetensors layout): this ltl cannot read it; convert it with 'node --import tsx scripts/vlm-checkpoint-to-safetensors.ts ${dir}' (same weights) or train it again with 'ltl vlm train --out ${dir}'`);
  }
  if (missing.length) throw new UserError(`VLM checkpoint ${dir} is missing ${missing.join(', ')}`);
  const metaFile = path.join(dir, 'meta.json');
  const meta = parseSealedJson<CheckpointMeta>(fs.readFileSync(metaFile, 'utf8'), metaFile, 'VLM checkpoint file');
  if (!meta || typeof meta !== 'object' || !meta.files) throw new UserError(`VLM checkpoint file ${path.join(dir, 'meta.json')} is corrupt: no 'files' checksums`);
  const bytes: Record<string, Buffer> = {};
  for (const f of ['model.json', 'weights.safetensors', 'vocab.json']) {
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
  const vocab = new Vocabulary(words, placeWords());
  if (vocab.size !== modelJson.config.text.vocabSize) {
    throw new UserError(`VLM checkpoint ${dir}: vocab.json has ${vocab.size} words but the model expects ${modelJson.config.text.vocabSize}`);
  }
  const weightsFile = path.join(dir, 'weights.safetensors');
  const tensors = decodeTensorFile(bytes['weights.safetensors'], weightsFile, { what: 'VLM checkpoint file' });
  const model = new VlmModel(modelJson.config, 0);
  let floats = 0;
  for (const e of modelJson.weights) {
    const v = model.params.get(e.name);
    if (!v) throw new UserError(`VLM checkpoint file ${path.join(dir, 'model.json')} names an unknown weight ${e.name}`);
    const t = tensors.tensors.get(e.name);
    // The manifest and the tensor file must agree on every weight: name, shape, place (floats end to end).
    if (!t || t.dtype !== 'F32' || t.shape.join('x') !== e.shape.join('x') || e.offset !== floats || e.size !== t.data.length) {
      throw new UserError(`VLM checkpoint ${dir}: weight ${e.name} of model.json (${e.shape.join('x')} at float ${e.offset}) is not the tensor weights.safetensors holds (${t ? `${t.dtype} ${t.shape.join('x')}` : 'none'} at float ${floats})`);
    }
    if (v.shape.join('x') !== e.shape.join('x')) {
      throw new UserError(`VLM checkpoint weight ${e.name} has shape ${e.shape.join('x')}; the model needs ${v.shape.join('x')}`);
    }
    tf.tidy(() => v.assign(tf.tensor(t.data as Float32Array, e.shape)));
    floats += e.size;
  }
  // Same tensors in the same order (the reader gives them in file order): the bytes are the floats in manifest order.
  if ([...tensors.tensors.keys()].join('\n') !== modelJson.weights.map((e) => e.name).join('\n')) {
    throw new UserError(`VLM checkpoint ${dir}: weights.safetensors holds ${tensors.tensors.size} tensors, not the ${modelJson.weights.length} of model.json in its order`);
  }
  const identity = checkpointIdentity({
    modelJson: meta.files['model.json'], vocabJson: meta.files['vocab.json'],
    weights: { bytes: 4 * floats, sha256: tensors.metadata[DATA_SHA256] },
  });
  if (meta.identity !== identity) {
    throw new UserError(`VLM checkpoint file ${metaFile} is corrupt: its identity ${String(meta.identity).slice(0, 12)}... is not that of the files (${identity.slice(0, 12)}...)`);
  }
  // By name, not by count: a manifest naming one weight twice must not hide a missing one.
  const have = new Set(modelJson.weights.map((e) => e.name));
  const lack = [...model.params.keys()].filter((k) => !have.has(k));
  if (lack.length) {
    throw new UserError(`VLM checkpoint file ${path.join(dir, 'model.json')} lacks weights ${lack.join(', ')}`);
  }
  return { model, vocab, meta, dir };
}
