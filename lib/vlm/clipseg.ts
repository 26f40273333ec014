import * as fs from 'node:fs';
import * as path from 'node:path';
import type { MapBatch, MapGenerator, MapGeneratorIdentity, MapRequest } from '../maps/types';
import { UserError } from '../util/errors';
import { resizeArea } from '../maps/postprocess';
import { requestIndices } from '../maps/generators/common';
import { MAP_SOURCE } from '../maps/registry';

/**
 * CLIPSeg (Lüddecke & Ecker 2022), a text-prompted segmenter, through transformers.js
 * (@huggingface/transformers, onnxruntime-node on the CPU). Per image and prompt it gives a
 * logit map at the processor's resolution (352x352 for the Xenova export); we take
 * sigmoid(logit) of the prompt, or, when background prompts are given, the softmax over
 * [prompt, ...backgrounds] at each pixel (the prompt's share), then area-resize to the image size.
 */
export const DEFAULT_CLIPSEG_MODEL = 'Xenova/clipseg-rd64-refined';
const DTYPE_SUFFIX: Record<string, string> = { fp32: '', fp16: '_fp16', q8: '_quantized', int8: '_int8', uint8: '_uint8', q4: '_q4' };

export interface ClipSegOptions {
  /** Hub id, or the folder name under modelDir (default Xenova/clipseg-rd64-refined). */
  modelId?: string;
  /**
   * A local model folder: either the model itself (config.json, preprocessor_config.json,
   * tokenizer.json, tokenizer_config.json, onnx/model.onnx) or a root holding {modelId}/...
   * When given, nothing is downloaded.
   */
  modelDir?: string;
  /** Allow downloading from the hub when no modelDir is given (default: unless env LTL_ALLOW_REMOTE_MODELS=0). */
  allowRemote?: boolean;
  /** ONNX weights: fp32 (onnx/model.onnx, default) or q8 (onnx/model_quantized.onnx), ... */
  dtype?: string;
  /** Images per forward pass (each is run once per prompt); default 8. */
  batchSize?: number;
}

/** Files transformers.js reads for CLIPSegForImageSegmentation + AutoTokenizer + AutoProcessor. */
export function clipsegRequiredFiles(dtype = 'fp32'): string[] {
  return ['config.json', 'preprocessor_config.json', 'tokenizer.json', 'tokenizer_config.json', `onnx/model${DTYPE_SUFFIX[dtype] ?? ''}.onnx`];
}

/** Where transformers.js should look: { root (env.localModelPath), id } for a local folder. */
export function resolveLocalModel(modelDir: string, modelId = DEFAULT_CLIPSEG_MODEL, dtype = 'fp32'): { root: string; id: string } {
  const dir = path.resolve(modelDir);
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new UserError(`no CLIPSeg model at ${modelDir}: not a folder`);
  const need = clipsegRequiredFiles(dtype);
  const missingIn = (d: string) => need.filter((f) => !fs.existsSync(path.join(d, f)));
  // The folder is the model itself, or a root with the model under its id (as env.localModelPath).
  if (missingIn(dir).length === 0) return { root: path.dirname(dir), id: path.basename(dir) };
  if (missingIn(path.join(dir, modelId)).length === 0) return { root: dir, id: modelId };
  throw new UserError(`no CLIPSeg model at ${modelDir}: missing ${missingIn(dir).join(', ')} (expected a transformers.js export such as ${DEFAULT_CLIPSEG_MODEL}, or a folder holding ${modelId}/)`);
}

function loadTransformers(): any {
  try {
    return require('@huggingface/transformers');
  } catch (e) {
    // transformers.js loads onnxruntime-node eagerly; its native binary ships in the npm package
    // (bin/napi-v3/<platform>/<arch>), so this fails only on platforms it does not cover.
    throw new UserError(`cannot load @huggingface/transformers / onnxruntime-node: ${(e as Error).message}`);
  }
}

export class ClipSegGenerator implements MapGenerator {
  readonly name = MAP_SOURCE.clipseg;
  readonly usesPrompt = true;
  readonly modelId: string;
  readonly source: string;
  readonly batchSize: number;
  readonly dtype: string;
  private constructor(private readonly t: any, private model: any, private readonly tokenizer: any, private readonly processor: any, info: { modelId: string; source: string; batchSize: number; dtype: string }) {
    this.modelId = info.modelId;
    this.source = info.source;
    this.batchSize = info.batchSize;
    this.dtype = info.dtype;
  }

  /** Its maps are those of a model id and weight type. */
  identity(): MapGeneratorIdentity {
    return { id: { modelId: this.modelId, dtype: this.dtype }, background: [] };
  }

  /** Loads tokenizer, processor and ONNX model (from modelDir, the local cache or the hub). */
  static async load(opts: ClipSegOptions = {}): Promise<ClipSegGenerator> {
    const dtype = opts.dtype ?? 'fp32';
    if (!(dtype in DTYPE_SUFFIX)) throw new UserError(`CLIPSeg dtype must be one of ${Object.keys(DTYPE_SUFFIX).join(', ')}, not '${dtype}'`);
    const batchSize = opts.batchSize ?? 8;
    if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new UserError(`CLIPSeg batch size must be a positive integer, not ${opts.batchSize}`);
    let id = opts.modelId ?? DEFAULT_CLIPSEG_MODEL;
    let source: string;
    const local = opts.modelDir ? resolveLocalModel(opts.modelDir, id, dtype) : undefined;
    const t = loadTransformers();
    const { env } = t;
    if (local) {
      env.localModelPath = local.root.endsWith(path.sep) ? local.root : local.root + path.sep;
      env.allowLocalModels = true;
      env.allowRemoteModels = false;
      id = local.id;
      source = path.join(local.root, local.id);
    } else {
      const allowRemote = opts.allowRemote ?? process.env.LTL_ALLOW_REMOTE_MODELS !== '0';
      env.allowRemoteModels = allowRemote;
      env.allowLocalModels = false; // only the download cache (env.cacheDir) and, if allowed, the hub
      source = allowRemote ? `hub:${id} (cache ${env.cacheDir})` : `cache:${env.cacheDir}`;
    }
    try {
      const [tokenizer, processor, model] = await Promise.all([
        t.AutoTokenizer.from_pretrained(id),
        t.AutoProcessor.from_pretrained(id),
        t.CLIPSegForImageSegmentation.from_pretrained(id, { dtype }),
      ]);
      const names: string[] = model.sessions?.model?.inputNames ?? [];
      for (const need of ['input_ids', 'pixel_values']) {
        if (names.length && !names.includes(need)) throw new UserError(`CLIPSeg model ${source} has no input '${need}' (inputs: ${names.join(', ')})`);
      }
      return new ClipSegGenerator(t, model, tokenizer, processor, { modelId: id, source, batchSize, dtype });
    } catch (e) {
      if (e instanceof UserError) throw e;
      const why = (e as Error).message?.split('\n')[0] ?? String(e);
      if (local) throw new UserError(`cannot load the CLIPSeg model at ${source}: ${why}`);
      throw new UserError(`no CLIPSeg model '${id}' available: ${why}. Pass --model-dir DIR (a folder with ${clipsegRequiredFiles(dtype).join(', ')})` +
        (env.allowRemoteModels ? ', or check the network access to the model hub' : ', or allow downloads from the hub (unset LTL_ALLOW_REMOTE_MODELS=0)'));
    }
  }

  async generate(req: MapRequest): Promise<MapBatch> {
    const { split } = req;
    const idx = requestIndices(req);
    const prompts = [req.prompt, ...(req.background ?? [])];
    if (!req.prompt.trim()) throw new UserError('CLIPSeg needs a non-empty prompt');
    const P = prompts.length;
    const T = this.t;
    const text = this.tokenizer(prompts, { padding: true, truncation: true });
    const S = text.input_ids.dims[1];
    const ids: BigInt64Array = text.input_ids.data;
    const mask: BigInt64Array = text.attention_mask.data;
    const { height: h, width: w, channels: c } = split;
    const hw = h * w;
    const out = new Float32Array(idx.length * hw);
    for (let s = 0; s < idx.length; s += this.batchSize) {
      const chunk = idx.subarray(s, Math.min(s + this.batchSize, idx.length));
      const B = chunk.length;
      // MNIST images as RGB RawImages (grey replicated): the processor resizes and normalises them.
      const images = Array.from(chunk, (i) => {
        const rgb = new Uint8ClampedArray(hw * 3);
        const src = split.images.subarray(i * hw * c, (i + 1) * hw * c);
        for (let p = 0; p < hw; p++) for (let k = 0; k < 3; k++) rgb[p * 3 + k] = src[p * c + (c === 3 ? k : 0)];
        return new T.RawImage(rgb, w, h, 3);
      });
      const { pixel_values } = await this.processor(images);
      const [, C, H, W] = pixel_values.dims as number[];
      const per = C * H * W;
      // Row b*P + p pairs image b with prompt p (every export accepts equal batch sizes).
      const pix = new Float32Array(B * P * per);
      const tid = new BigInt64Array(B * P * S), tmask = new BigInt64Array(B * P * S);
      for (let b = 0; b < B; b++) {
        const img = (pixel_values.data as Float32Array).subarray(b * per, (b + 1) * per);
        for (let p = 0; p < P; p++) pix.set(img, (b * P + p) * per);
        tid.set(ids, b * P * S);
        tmask.set(mask, b * P * S);
      }
      const feeds: Record<string, unknown> = {
        pixel_values: new T.Tensor('float32', pix, [B * P, C, H, W]),
        input_ids: new T.Tensor('int64', tid, [B * P, S]),
        attention_mask: new T.Tensor('int64', tmask, [B * P, S]),
      };
      const { logits } = await this.model(feeds);
      const [rows, LH, LW] = logits.dims as number[];
      if (rows !== B * P || logits.dims.length !== 3) throw new UserError(`CLIPSeg model ${this.source} returned logits of shape [${logits.dims}], expected [${B * P}, H, W]`);
      const L = logits.data as Float32Array;
      const lhw = LH * LW;
      const prob: MapBatch = { count: B, height: LH, width: LW, data: new Float32Array(B * lhw) };
      for (let b = 0; b < B; b++) {
        const base = b * P * lhw;
        for (let q = 0; q < lhw; q++) {
          const l0 = L[base + q];
          if (P === 1) { prob.data[b * lhw + q] = 1 / (1 + Math.exp(-l0)); continue; }
          let m = l0;
          for (let p = 1; p < P; p++) m = Math.max(m, L[base + p * lhw + q]);
          let z = 0;
          for (let p = 0; p < P; p++) z += Math.exp(L[base + p * lhw + q] - m);
          prob.data[b * lhw + q] = Math.exp(l0 - m) / z;
        }
      }
      logits.dispose?.();
      const small = LH === h && LW === w ? prob : resizeArea(h, w)(prob);
      out.set(small.data, s * hw);
      req.onProgress?.(s + B, idx.length);
    }
    return { count: idx.length, height: h, width: w, data: out };
  }

  dispose(): void {
    const m = this.model;
    this.model = undefined;
    void m?.dispose?.();
  }
}
