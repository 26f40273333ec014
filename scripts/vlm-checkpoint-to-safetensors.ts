/**
 * Converts an embedded-VLM checkpoint folder of the format before tensor files (weights.bin: raw
 * float32 in model.json's manifest order) to the current one (weights.safetensors), in place:
 *
 *   node --import tsx scripts/vlm-checkpoint-to-safetensors.ts DIR
 *
 * The old folder is checked first (meta.json's seal, each file's size and SHA-256); the weights are
 * written by the checkpoint module's own writer (saveCheckpoint: weights.safetensors, model.json,
 * vocab.json, a freshly sealed meta.json keeping every training and evaluation record), then read
 * back and compared float for float; the checkpoint's identity must come out unchanged. weights.bin is
 * left in place: delete it once the conversion is done (data/vlm was converted this way).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../lib/backend';
import { canonicalJson } from '../lib/util/canonical-json';
import { UserError } from '../lib/util/errors';
import { sha256 } from '../lib/util/hash';
import { parseSealedJson } from '../lib/util/sealed';
import { VlmModel, Vocabulary, loadCheckpoint, saveCheckpoint, type CheckpointMeta, type ModelJson } from '../lib/vlm/embedded';

async function main(dir: string): Promise<void> {
  await initBackend();
  const file = (f: string) => path.join(dir, f);
  const metaFile = file('meta.json');
  const old = parseSealedJson<Omit<CheckpointMeta, 'identity'>>(fs.readFileSync(metaFile, 'utf8'), metaFile, 'VLM checkpoint file');
  for (const f of ['model.json', 'weights.bin', 'vocab.json']) {
    const data = fs.readFileSync(file(f));
    const want = old.files?.[f];
    if (!want || data.byteLength !== want.bytes || sha256(data) !== want.sha256) throw new UserError(`${file(f)} does not match meta.json: not an intact checkpoint of the old format`);
  }
  const oldIdentity = sha256(Buffer.from(canonicalJson(old.files)));
  const modelJson = JSON.parse(fs.readFileSync(file('model.json'), 'utf8')) as ModelJson;
  const w = fs.readFileSync(file('weights.bin'));
  const floats = new Float32Array(w.buffer.slice(w.byteOffset, w.byteOffset + w.byteLength));
  const model = new VlmModel(modelJson.config, 0);
  for (const e of modelJson.weights) tf.tidy(() => model.params.get(e.name)!.assign(tf.tensor(floats.subarray(e.offset, e.offset + e.size), e.shape)));
  const vocab = new Vocabulary(JSON.parse(fs.readFileSync(file('vocab.json'), 'utf8')));
  const { files: _f, parameterCount: _p, ...rest } = old;
  const meta = saveCheckpoint(dir, model, vocab, rest);
  model.dispose();

  const back = loadCheckpoint(dir);
  for (const e of modelJson.weights) {
    const got = back.model.params.get(e.name)!.dataSync() as Float32Array;
    const want = floats.subarray(e.offset, e.offset + e.size);
    if (Buffer.compare(Buffer.from(got.buffer, got.byteOffset, got.byteLength), Buffer.from(want.buffer, want.byteOffset, want.byteLength)) !== 0) throw new Error(`weight ${e.name} differs after conversion`);
  }
  back.model.dispose();
  if (meta.identity !== oldIdentity) throw new Error(`identity changed: ${oldIdentity} -> ${meta.identity}`);
  if (sha256(fs.readFileSync(file('model.json'))) !== old.files['model.json'].sha256) throw new Error('model.json changed');
  console.log(`converted ${dir}: weights.safetensors (${meta.files['weights.safetensors'].bytes} bytes), same floats, identity ${meta.identity}; weights.bin can be deleted`);
}

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node --import tsx scripts/vlm-checkpoint-to-safetensors.ts DIR');
  process.exit(2);
}
main(dir).catch((e) => {
  console.error(e instanceof UserError ? `error: ${e.message}` : e);
  process.exit(1);
});
