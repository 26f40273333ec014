import type { PromptDiagnosis } from './types';
import { DEFAULT_ATTRIBUTION, energyNoun, type AttributionName } from './attribution';

/**
 * The ranking and the verdict of a diagnosis. Prompts are ranked by reliance on what they name, margin = flipRate -
 * sameClassFlipRate: the flips the redraw causes beyond those of the same redraw with a value of the image's own class
 * (same region, area, shape and kind of perturbation; only the label information differs). Prompts with a warning (an
 * empty map, a region that covers the image) come last and get no verdict. The verdict names the first prompt when its
 * margin is at least MIN_MARGIN; it also says how the flips compare with the chance region's.
 *
 * Why not rank by the margin over the chance region (flipRate - chanceFlipRate): the chance flip rate grows with the
 * region's area and with how much of the object a region of that shape cuts at a random place, whatever the net reads.
 * A border band shifted at random is two bands across the whole image: on decoymnist-hard a vanilla net whose
 * predictions follow the frame changes 57 % of them when the frame is redrawn, and 58 % when the shifted band is (55 %
 * for a random set of the same pixel count), so the frame would rank below the digit although it is what the net
 * reads (docs/diagnose.md has the numbers). The chance level answers "is this place more fragile than any place of
 * its size?", the same-class control "does the net read what the prompt names?": the diagnosis asks the second. Both
 * are measured and reported.
 */

/** The ranking key, in words (part of a diagnosis's record). */
export const RANKING = 'margin = flipRate - sameClassFlipRate';

/** The smallest margin (5 points of flip rate) a verdict needs: on a few hundred images a flip rate's standard error
 * is 2-3 points, so a smaller margin is within the noise of one draw. */
export const MIN_MARGIN = 0.05;

export function rankPrompts(list: readonly PromptDiagnosis[]): PromptDiagnosis[] {
  return [...list].sort((a, b) => Number(a.warning !== null) - Number(b.warning !== null) || b.margin - a.margin);
}

const pct = (x: number) => `${(100 * x).toFixed(1)} %`;

/** The prompt the net relies on most beyond chance (null: none) and one line saying so. `ranked` as rankPrompts orders it. */
export function verdictOf(ranked: readonly PromptDiagnosis[], minMargin = MIN_MARGIN, attribution: AttributionName = DEFAULT_ATTRIBUTION): { top: string | null; verdict: string } {
  const usable = ranked.filter((p) => p.warning === null);
  if (usable.length === 0) return { top: null, verdict: 'no verdict: every prompt has a warning (see above)' };
  const best = usable[0];
  if (!(best.margin >= minMargin)) {
    return { top: null, verdict: `no prompt is relied on beyond chance: the largest margin is ${JSON.stringify(best.prompt)}'s, ${(100 * best.margin).toFixed(1)} points (a verdict needs ${(100 * minMargin).toFixed(0)})` };
  }
  const where = best.kind === 'attribute' ? 'along its directions' : 'inside its region';
  const att = best.share === null ? `the net's ${attribution === 'gradient' ? 'input gradients are' : `${attribution} attributions are`} zero on every image`
    : `${pct(best.share)} of its ${energyNoun(attribution)} energy lies ${where} (chance ${pct(best.chance)}${best.lift !== null ? `, lift ${best.lift.toFixed(2)}` : ''})`;
  // A net that pools over the image can read a region through many pixels with small gradients each: the vanilla
  // decoymnist-hard net follows the frame (flip 57 %) with lift 0.72, and no other input attribution tried puts it
  // above 1 (docs/diagnose.md). Say so where the gradients would tell a reader the opposite of the flips.
  const hidden = best.lift !== null && best.lift < 1
    ? `; ${attribution === 'gradient' ? 'the input gradients do' : `its ${attribution} attributions do`} not show it (lift below 1): the flip rate, not the ${attribution === 'gradient' ? 'gradient' : 'attribution'} share, is the measure to trust here`
    : '';
  const how = best.kind === 'attribute' ? 'resampling it' : 'redrawing it from another image';
  const control = best.kind === 'attribute' ? 'the colour of an image of the same class' : 'an image of the same class';
  // a negative drop (the variation helps: e.g. on the test split, whose shortcut code is reversed) is said as a gain
  const cost = best.accuracyDrop >= 0 ? `costs ${(100 * best.accuracyDrop).toFixed(1)} points of accuracy` : `raises accuracy by ${(-100 * best.accuracyDrop).toFixed(1)} points`;
  return {
    top: best.prompt,
    verdict: `the net relies most on ${JSON.stringify(best.prompt)}: ${how} changes ${pct(best.flipRate)} of its predictions (with ${control}: ${pct(best.sameClassFlipRate)}; a random region of equal area: ${pct(best.chanceFlipRate)}) and ${cost}; ${att}${hidden}`,
  };
}
