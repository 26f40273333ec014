/**
 * The input-gradient penalty of the 'rrr' method (RRR, Ross et al. 2017, and the prompt-guided
 * constraints), per image. g is the input gradient of the summed log-probabilities (all classes, as in
 * RRR), g_p its 3 channel values at input pixel p:
 *
 *     R(x) = sum_p w_p * g_p^T S g_p  +  sum_p g_p^T C g_p
 *
 * w: the batch's rrrMask (per-pixel weights, >= 0); S, C: symmetric positive semi-definite 3x3 matrices
 * (row-major), fixed for a run. The step loss is CE + lambda * mean_batch R. Examples:
 *   RRR spatial (annotation mask):  S = I, C = null;
 *   RRR colour (hand-coded prior):  S = null, C = I - 11^T/3 (the part of g off the grey axis);
 *   prompt-guided:                  S = I with w from the prompts' maps, C from an attribute prompt.
 * One form for all of them, so both engines implement one penalty and the trainer only builds masks. The 'eg'
 * method applies the same form to expected-gradients attributions instead of input gradients, and 'cdep' makes its
 * input split from w and C (lib/losses/expected-gradients.ts, cdep.ts).
 */
export interface InputGradPenalty {
  /** S, applied with the per-pixel weights w (null: no per-pixel term, rrrMask unused). */
  readonly spatial: readonly number[] | null;
  /** C, applied at every pixel (null: none). */
  readonly global: readonly number[] | null;
}

export const IDENTITY3: readonly number[] = [1, 0, 0, 0, 1, 0, 0, 0, 1];
/** I - 11^T/3: projects an RGB vector onto the plane orthogonal to the grey axis (1,1,1). */
export const OFF_GREY3: readonly number[] = [2 / 3, -1 / 3, -1 / 3, -1 / 3, 2 / 3, -1 / 3, -1 / 3, -1 / 3, 2 / 3];
