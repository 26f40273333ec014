import * as fs from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import type { Model, ModelName } from '../models/types';
import { createModel, MODEL_NAMES, PARAM_SPECS, modelInputSize } from '../models';
import { rrrInputGradient } from '../losses/rrr';
import { FusedLeNetGap, flattenParams, INPUT_FLOATS } from '../engines/fused/kernel';
import type { NamedArray } from '../engines/types';
import { readCheckpoint } from '../train/checkpoint';
import { readRunConfig, runWeightsFile, RUN_FILE_NAMES } from '../train/run-folder';
import type { TrainConfig } from '../train/config';
import type { RunInputs } from '../train/result';
import { UserError } from '../util/errors';

/**
 * A trained net as a diagnosis reads it: its predictions and its input gradients, nothing else. The gradient is the
 * one the RRR penalties constrain and the validation excluded share measures (lib/losses/rrr.ts: d/dx of the summed
 * log-probabilities of every class), so attention shares here are on the scale of training's right-reasons score.
 */
export interface DiagnosedNet {
  readonly model: ModelName;
  readonly inputSize: number;
  /** Argmax predictions of images [n, S, S, 3] in [-1, 1] (ties: the lowest class). */
  predict(images: Float32Array, n: number): Int32Array;
  /** Input gradients [n, S, S, 3] (of the summed log-probabilities: the gradient RRR constrains). */
  inputGradients(images: Float32Array, n: number): Float32Array;
  /** d/dx of one class's logit per image ([n, S, S, 3]; classes[i] for image i): for the attributions of the
   * predicted class (lib/diagnose/attribution.ts). Optional: a net without it gives only the attributions made of its input gradients ('gradient', 'gradient-x-input'). */
  logitGradients?(images: Float32Array, n: number, classes: Int32Array): Float32Array;
  dispose(): void;
}

const TFJS_BATCH = 256;

function argmaxRows(logits: ArrayLike<number>, n: number, classes: number, out: Int32Array, at: number): void {
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (logits[i * classes + c] > logits[i * classes + best]) best = c;
    out[at + i] = best;
  }
}

/** A tfjs model as a diagnosed net (any model, also a hand-made one). The model is the caller's: dispose() leaves it. */
export function netFromModel(model: Model): DiagnosedNet {
  const S = model.inputSize, row = S * S * 3;
  return {
    model: model.name, inputSize: S,
    predict(images, n) {
      const out = new Int32Array(n);
      for (let s = 0; s < n; s += TFJS_BATCH) {
        const b = Math.min(TFJS_BATCH, n - s);
        const z = tf.tidy(() => model.forward(tf.tensor4d(images.subarray(s * row, (s + b) * row), [b, S, S, 3])).logits);
        argmaxRows(z.dataSync(), b, z.shape[1], out, s);
        z.dispose();
      }
      return out;
    },
    inputGradients(images, n) {
      const out = new Float32Array(n * row);
      for (let s = 0; s < n; s += TFJS_BATCH) {
        const b = Math.min(TFJS_BATCH, n - s);
        const g = tf.tidy(() => rrrInputGradient(model, tf.tensor4d(images.subarray(s * row, (s + b) * row), [b, S, S, 3]), false));
        out.set(g.dataSync() as Float32Array, s * row);
        g.dispose();
      }
      return out;
    },
    logitGradients(images, n, classes) {
      const out = new Float32Array(n * row);
      for (let s = 0; s < n; s += TFJS_BATCH) {
        const b = Math.min(TFJS_BATCH, n - s);
        const g = tf.tidy(() => {
          const cls = tf.tensor1d(classes.subarray(s, s + b), 'int32');
          // the one-hot weights are made from the logits' own width, inside the gradient (a constant there)
          return tf.grad((xx: tf.Tensor) => {
            const z = model.forward(xx as tf.Tensor4D).logits;
            return tf.sum(tf.mul(z, tf.oneHot(cls, z.shape[1]).asType('float32'))) as tf.Scalar;
          })(tf.tensor4d(images.subarray(s * row, (s + b) * row), [b, S, S, 3]));
        });
        out.set(g.dataSync() as Float32Array, s * row);
        g.dispose();
      }
      return out;
    },
    dispose() { /* the caller's model */ },
  };
}

/**
 * A net from its weights. Predictions of LeNet-GAP go through the fused kernel (lib/engines/fused: the trainer's own
 * forward pass, several times faster than tfjs here; the engines agree up to float rounding,
 * test/engines-fused-kernel.test.ts), gradients through tfjs.
 */
export function netFromWeights(model: ModelName, weights: Record<string, NamedArray>): DiagnosedNet {
  const m = createModel(model, 0, weights as Parameters<typeof createModel>[2]);
  const base = netFromModel(m);
  const fused = model === 'lenet-gap' ? FusedLeNetGap.createSync() : undefined;
  fused?.setParams(flattenParams(weights));
  return {
    ...base,
    predict(images, n) {
      if (!fused) return base.predict(images, n);
      const out = new Int32Array(n), max = fused.maxBatch, labels = new Int32Array(max);
      for (let s = 0; s < n; s += max) {
        const b = Math.min(max, n - s);
        argmaxRows(fused.evaluate(b, images.subarray(s * INPUT_FLOATS), labels).logits, b, 10, out, s);
      }
      return out;
    },
    dispose() { m.dispose(); },
  };
}

/** The model whose parameter names and shapes the weights have (a UserError naming `what` when none fits). */
export function modelOfWeights(weights: Record<string, NamedArray>, what: string): ModelName {
  const fits = (name: ModelName) => PARAM_SPECS[name].length === Object.keys(weights).length
    && PARAM_SPECS[name].every((p) => weights[p.name] && weights[p.name].shape.join('x') === p.shape.join('x'));
  const found = MODEL_NAMES.find(fits);
  if (!found) throw new UserError(`${what} holds weights of no model this ltl knows (${MODEL_NAMES.join(', ')}): its tensors are ${Object.keys(weights).join(', ') || 'none'}`);
  return found;
}

/** A net loaded from a checkpoint file (selected.safetensors, checkpoint.safetensors), with what its metadata records. */
export interface LoadedNet {
  net: DiagnosedNet;
  file: string;
  /** The epoch (0-based) the weights are from. */
  epoch: number;
  /** Checksums of what the net was trained on, when the checkpoint records them. */
  inputs?: RunInputs;
}

/** Loads a bare checkpoint file (a damaged or missing file is one UserError naming it; `given`: the option that named
 * the file, when a user did). */
export function loadCheckpointNet(file: string, model?: ModelName, given?: string): LoadedNet {
  if (!fs.existsSync(file)) throw new UserError(`--model ${file} does not exist`);
  if (fs.statSync(file).isDirectory()) throw new UserError(`--model ${file} is a folder, not a checkpoint file: give its selected.safetensors, or the folder with --run`);
  const { meta, state } = readCheckpoint<unknown>(file, given !== undefined ? { given } : {});
  const name = model ?? modelOfWeights(state.weights, `checkpoint ${file}`);
  if (model && modelOfWeights(state.weights, `checkpoint ${file}`) !== model) throw new UserError(`checkpoint ${file} does not hold ${model} weights`);
  return { net: netFromWeights(name, state.weights), file, epoch: meta.epoch, inputs: meta.inputs as RunInputs | undefined };
}

/** Loads a run folder's net: its validation-selected weights (the last checkpoint for runs made before those were kept). */
export function loadRunNet(dir: string): LoadedNet & { config: TrainConfig } {
  if (!fs.existsSync(dir)) throw new UserError(`--run ${dir} does not exist`);
  if (!fs.statSync(dir).isDirectory()) throw new UserError(`--run ${dir} is a file, not a run folder: give the folder, or a checkpoint file with --model`);
  const config = readRunConfig(dir);
  if (!config) throw new UserError(`--run ${dir} is not a run folder: it has no ${RUN_FILE_NAMES.config} (ltl train --out makes one)`);
  const file = runWeightsFile(dir);
  const loaded = loadCheckpointNet(file, config.model as ModelName);
  if (loaded.net.inputSize !== modelInputSize(config.model)) throw new UserError(`${file} does not fit the run's model ${config.model}`);
  return { ...loaded, config };
}
