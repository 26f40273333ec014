import type { Rng } from '../util/rng';
import { UserError } from '../util/errors';
import type { ColourSource } from './types';

/**
 * Where counterfactual colours come from.
 *  - namedColours: the colours a vision-language model names with the attribute's value words (lib/vlm/embedded/
 *    attribute-span.ts finds them by asking the model): a value word is drawn uniformly, then one of its colours, so
 *    every word the model knows counts alike whatever share of the colour cube it covers.
 *  - randomColours: the hand-coded reference (annotation twin): a uniformly random hue and saturation at a random
 *    lightness, written for colour by us rather than read from language.
 */

/** Colours grouped by the value word that names them, RGB in [0, 1]. */
export interface NamedColourGroups {
  values: string[];
  colours: Array<ReadonlyArray<readonly [number, number, number]>>;
}

export function namedColours(groups: NamedColourGroups): ColourSource {
  const used = groups.colours.filter((g) => g.length > 0);
  if (used.length === 0) throw new UserError('the attribute prompt names no colour the model recognises: there is nothing to recolour with');
  return (rng: Rng) => {
    const g = used[rng.int(used.length)];
    return g[rng.int(g.length)];
  };
}

/** Darkest lightness of the hand-coded random colours (as the reference probe drew them). */
export const RANDOM_COLOUR_MIN_LIGHTNESS = 0.3;

export function randomColours(): ColourSource {
  return (rng: Rng) => {
    const u = [rng.next(), rng.next(), rng.next()];
    const top = Math.max(u[0], u[1], u[2], 1e-6);
    const light = RANDOM_COLOUR_MIN_LIGHTNESS + (1 - RANDOM_COLOUR_MIN_LIGHTNESS) * rng.next();
    return [(u[0] / top) * light, (u[1] / top) * light, (u[2] / top) * light] as const;
  };
}
