import type { DiagnosedNet } from './net';
import { UserError } from '../util/errors';

/**
 * What the attention measure of a diagnosis attributes a prediction to, per input pixel and channel ([n, S, S, 3]);
 * the measure is then the share of its energy (squared, summed over channels) inside a region or along an attribute's
 * directions (lib/diagnose/attention.ts). The variants differ by a few lines, as pytorch-grad-cam's do:
 *  - 'gradient' (the default): d/dx of the summed log-probabilities of every class, the gradient that the RRR
 *    penalties constrain and the validation excluded share measures, so shares are on training's scale;
 *  - 'logit-gradient': d/dx of the predicted class's logit (the usual saliency map);
 *  - 'gradient-x-input': 'gradient' times the input's distance from a black image (what a pixel's value contributes
 *    to first order; a black pixel gets none);
 *  - 'integrated-gradients': Sundararajan et al. 2017, of the predicted class's logit, from a black image, with
 *    IG_STEPS midpoint steps: (x - black) times the mean gradient along the straight path. Its sum over the image is
 *    close to logit(x) - logit(black) (completeness), so a region's share says how much of the logit it accounts for.
 * None of them is the cause of a prediction; the reliance measure (lib/diagnose/reliance.ts) is, and it ranks.
 * The two that multiply by (x - black) give a black pixel nothing, whatever the net does with it: on images with a
 * black background (MNIST) they put every region's share on the object by construction.
 */
export const ATTRIBUTIONS = ['gradient', 'logit-gradient', 'gradient-x-input', 'integrated-gradients'] as const;
export type AttributionName = (typeof ATTRIBUTIONS)[number];

export const DEFAULT_ATTRIBUTION: AttributionName = 'gradient';

/** One line per attribution, for --help and the docs. */
export const ATTRIBUTION_ABOUT: Readonly<Record<AttributionName, string>> = {
  gradient: 'd/dx of the summed log-probabilities, the gradient RRR constrains',
  'logit-gradient': "d/dx of the predicted class's logit",
  'gradient-x-input': "gradient times the input's distance from black",
  'integrated-gradients': "integrated gradients of the predicted class's logit from a black image",
};

/** Short names for narrow labels (the example grid's column headers). */
export const ATTRIBUTION_SHORT: Readonly<Record<AttributionName, string>> = {
  gradient: 'gradient', 'logit-gradient': 'logit grad', 'gradient-x-input': 'grad x input', 'integrated-gradients': 'integrated grad',
};

/** What "X energy" calls an attribution's energy in prose ("input-gradient energy", "integrated-gradients energy"). */
export function energyNoun(kind: AttributionName): string {
  return kind === 'gradient' ? 'input-gradient' : kind;
}

/** Path steps of 'integrated-gradients' (midpoints of IG_STEPS equal intervals). */
export const IG_STEPS = 16;

/** A black image in the models' input layout ([-1, 1]). */
const BLACK = -1;

export function isAttribution(v: string): v is AttributionName {
  return (ATTRIBUTIONS as readonly string[]).includes(v);
}

/** The attribution of a name, or one UserError listing them. */
export function checkAttribution(v: string, flag = '--attribution'): AttributionName {
  if (!isAttribution(v)) throw new UserError(`${flag} must be one of ${ATTRIBUTIONS.join(', ')}, not '${v}'`);
  return v;
}

/**
 * Attributions [n, S, S, 3] of n images [n, S, S, 3] (`predicted`: the net's class per image, for the kinds that
 * attribute the predicted class's logit; the caller has them from its own forward pass).
 */
export function attributions(net: DiagnosedNet, kind: AttributionName, images: Float32Array, n: number, predicted?: ArrayLike<number>): Float32Array {
  const row = net.inputSize * net.inputSize * 3;
  if (kind === 'gradient') return net.inputGradients(images, n);
  if (kind === 'gradient-x-input') {
    const g = net.inputGradients(images, n);
    for (let k = 0; k < n * row; k++) g[k] *= images[k] - BLACK;
    return g;
  }
  if (!net.logitGradients) throw new UserError(`--attribution ${kind} needs the gradient of one class's logit, which this net does not give (a DiagnosedNet without logitGradients)`);
  if (!predicted || predicted.length < n) throw new Error(`attributions: ${kind} needs the predicted class of each of the ${n} images`);
  const classes = Int32Array.from({ length: n }, (_, i) => predicted[i]);
  if (kind === 'logit-gradient') return net.logitGradients(images, n, classes);
  // integrated gradients: the mean gradient at the path's midpoints black + a (x - black), times (x - black)
  const mean = new Float32Array(n * row), at = new Float32Array(n * row);
  for (let s = 0; s < IG_STEPS; s++) {
    const a = (s + 0.5) / IG_STEPS;
    for (let k = 0; k < n * row; k++) at[k] = BLACK + a * (images[k] - BLACK);
    const g = net.logitGradients(at, n, classes);
    for (let k = 0; k < n * row; k++) mean[k] += g[k];
  }
  for (let k = 0; k < n * row; k++) mean[k] *= (images[k] - BLACK) / IG_STEPS;
  return mean;
}
