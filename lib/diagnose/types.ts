import type { SplitName } from '../data/types';
import type { MapBatch } from '../maps/types';
import type { ColourSource } from '../counterfactual/types';
import type { MaskSettings } from '../train/prompt-constraint';
import type { AttributionName } from './attribution';

/**
 * Diagnosis of a trained net with language (`ltl diagnose`, lib/diagnose/diagnose.ts): for each candidate prompt, how
 * much the net's predictions depend on what the prompt names (reliance, causal: that thing redrawn or recoloured) and
 * how much of its input-gradient energy lies there (attention), each beside its chance level. A candidate has no role
 * (positive or negative, as in training): it is just a prompt whose region, or attribute, is varied.
 *
 * Images are the models' input layout (lib/train/data.ts): [n, S, S, 3] float32 in [-1, 1].
 */

/** What a candidate prompt names: a region of each image (a VLM map) or an attribute (colour: input directions and the colours its words span). */
export type CandidateKind = 'region' | 'attribute';

/** A region prompt with its maps of the measured images (values in [0, 1], any grid; lib/diagnose/regions.ts makes the regions). */
export interface RegionCandidate {
  kind: 'region';
  prompt: string;
  maps: MapBatch;
}

/** An attribute prompt: its 3x3 input-direction matrix C (lib/vlm/embedded/attribute.ts; largest eigenvalue 1) and the colours its words span. */
export interface AttributeCandidate {
  kind: 'attribute';
  prompt: string;
  matrix: readonly number[];
  colours: ColourSource;
}

export type Candidate = RegionCandidate | AttributeCandidate;

/** One prompt's diagnosis (one entry of `ltl diagnose --json`'s `prompts`). */
export interface PromptDiagnosis {
  prompt: string;
  kind: CandidateKind;
  /** Share of the measured images whose prediction changes when what the prompt names is redrawn (its region, from
   * another image of the split) or resampled (the attribute: the image recoloured with a colour its words span). */
  flipRate: number;
  /** Accuracy on the images minus accuracy on their counterfactuals (the split's labels). */
  accuracyDrop: number;
  /** The same for the chance variation (lib/diagnose/chance-region.ts): a region of equal area and shape at a random
   * place, redrawn from the same donor image (attribute: the pixels the recolouring changed, shifted). */
  chanceFlipRate: number;
  chanceAccuracyDrop: number;
  /** The same for the same-class control (lib/diagnose/reliance.ts): the same variation with a value of the image's own
   * class (its region redrawn from another image of the same label; the colour of such an image). */
  sameClassFlipRate: number;
  sameClassAccuracyDrop: number;
  /** flipRate - sameClassFlipRate: how much of the flips the label information of what the prompt names causes; the
   * ranking key (lib/diagnose/verdict.ts). */
  margin: number;
  /** Mean over images of the share of input-gradient energy inside the region (along the attribute's directions);
   * null when no image has any gradient energy. */
  share: number | null;
  /** Its chance level: the region's share of the image (attribute: tr(C) / 3, the share of an isotropic gradient). */
  chance: number;
  /** share / chance; null when either is 0 or unknown. */
  lift: number | null;
  /** Images whose pixels the counterfactual changed. */
  changed: number;
  /** Images where the prompt's region is not empty (attribute prompts: every measured image). */
  found: number;
  /** Whether the region's redraws kept each image's colour (attribute prompts were candidates too; lib/diagnose/reliance.ts). */
  keepsColour: boolean;
  /** Why the prompt gets no verdict (its map is empty, its region covers the image), else null. */
  warning: string | null;
  /** Region prompts: whether what the prompt names sits at one place in every image, i.e. the mean of its maps over the
   * measured images exceeds 0.5 somewhere (what `ltl train --negative-region shared` needs); null for attribute prompts. */
  onePlace: boolean | null;
}

/** An example image of one prompt for the figure (lib/report/diagnosis-figure.ts). */
export interface DiagnosisExample {
  prompt: string;
  kind: CandidateKind;
  /** Index of the image in the split. */
  index: number;
  label: number;
  /** The net's prediction on the image and on its counterfactual. */
  before: number;
  after: number;
  /** Side of the model's input grid. */
  size: number;
  /** The image and its counterfactual, [S, S, 3] in [-1, 1]. */
  image: Float32Array;
  counterfactual: Float32Array;
  /** What the prompt names on this image: its map (region prompts, the map's own grid) or, for an attribute, the input-
   * gradient energy along its directions (g_p^T C g_p on the input grid). */
  map: { data: Float32Array; width: number; height: number };
  /** The net's input-gradient energy |g_p|^2 on the input grid [S, S]. */
  energy: Float32Array;
}

/** The settings a diagnosis ran with (part of its record). */
export interface DiagnosisSettings {
  /** How a region prompt's map becomes its region (lib/diagnose/regions.ts DIAGNOSIS_MASKS). */
  regions: MaskSettings;
  /** What the attention measure attributes predictions to (lib/diagnose/attribution.ts). */
  attribution: AttributionName;
  /** Seed of the donors, the chance offsets and the colours. */
  seed: number;
  /** The smallest margin (flipRate - sameClassFlipRate) a verdict needs. */
  minMargin: number;
  /** The ranking key, in words. */
  ranking: string;
  /** The map source of region prompts ('embedded', 'clipseg'), or null when the maps were given. */
  maps: string | null;
}

/** What a diagnosis found. */
export interface Diagnosis {
  /** Dataset name and split, and the number of images measured (the first N of the split). */
  dataset: string;
  split: SplitName;
  images: number;
  /** The net's accuracy on those images. */
  accuracy: number;
  /** Where the net came from (weights file), for the record. */
  net: string;
  /** Ranked: margin descending, prompts with a warning last. */
  prompts: PromptDiagnosis[];
  /** The prompt the net relies on most beyond chance; null when none does (or every prompt has a warning). */
  top: string | null;
  /** One line saying so. */
  verdict: string;
  /** What to train with so that the net stops reading the top prompt (the language recipe's flags naming it), or null
   * without a verdict. */
  next: string | null;
  /** Every prompt's warning, as lines. */
  warnings: string[];
  settings: DiagnosisSettings;
  /** A few images per prompt for the figure (not part of the JSON record: diagnosisJson leaves them out). */
  examples: DiagnosisExample[];
}

/** The JSON record of a diagnosis (`ltl diagnose --json`). */
export type DiagnosisJson = Omit<Diagnosis, 'examples'>;
