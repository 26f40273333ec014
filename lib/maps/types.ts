import type { ImageSplit } from '../data/types';

/**
 * A map generator turns images and a text prompt into one attention map per image: where the
 * object named by the prompt is. Values in [0, 1], on the generator's own grid (at least 28x28 for
 * MNIST-sized images, or coarser with a documented upsampling).
 */
export interface MapRequest {
  /** The images, as a dataset split (uint8 HWC) or a subset of it. */
  split: ImageSplit;
  /** Indices into the split (default: all, in order). */
  indices?: Int32Array | number[];
  /** Foreground prompt, e.g. "a digit". Ignored by prompt-free generators (oracle, uniform, random). */
  prompt: string;
  /** Background prompts the foreground competes against, e.g. ["background", "black"]. */
  background?: string[];
  /** Seed for generators with randomness (random maps); the same seed gives the same maps. */
  seed?: number;
  /** Called with (done, total) as maps are made, for progress bars. */
  onProgress?: (done: number, total: number) => void;
}

/** A batch of maps: count x height x width, row-major, values in [0, 1]. */
export interface MapBatch {
  readonly count: number;
  readonly height: number;
  readonly width: number;
  readonly data: Float32Array;
}

/** One prompt of a several-prompt request (MapGenerator.generatePrompts). */
export interface PromptRequest {
  prompt: string;
  /** As MapRequest.background (default: the generator's). */
  background?: string[];
}

/** What identifies a generator's maps beyond its name: the part of a map cache key and of a run's provenance. */
export interface MapGeneratorIdentity {
  /** Its settings and model (e.g. the checkpoint hash and temperature of the embedded VLM, the model id of CLIPSeg, the
   * seed of random maps); {} when the name says it all. */
  id: Record<string, unknown>;
  /** The background prompts the generator resolves when a request names none ([] for generators without them). */
  background: string[];
}

export interface MapGenerator {
  /** Its map source name (lib/maps/registry.ts) or a user's own. */
  readonly name: string;
  /** Whether the prompt changes the output (false for oracle/uniform/random). */
  readonly usesPrompt: boolean;
  generate(req: MapRequest): Promise<MapBatch>;
  /**
   * Optional, for generators whose cost is mostly the images' and not the prompt's ('embedded'): maps of
   * several prompts of the same images in one pass, one MapBatch per prompt, each exactly what generate()
   * gives for that prompt.
   */
  generatePrompts?(req: Omit<MapRequest, 'prompt' | 'background'>, prompts: PromptRequest[]): Promise<MapBatch[]>;
  /** Releases models or sessions held by the generator. */
  dispose?(): void;
  /** What identifies its maps (generatorIdentity gives { id: {}, background: [] } for a generator without it). */
  identity?(): MapGeneratorIdentity;
  /**
   * How the generator reads the words of `texts` it was not taught (mapped words, their blends, unknown words), or
   * undefined when it knows them all (or reads no words). A map cache key includes it: that reading may change with the
   * code while the generator's model does not.
   */
  untaughtReading?(texts: readonly string[]): unknown[] | undefined;
  /**
   * Checks the words of a prompt and its background prompts against what the generator knows, as generate() does: a
   * prompt it cannot read at all is a UserError (unless the generator was made to allow it), readings go to `warn`.
   * For maps that are read from a cache instead of made.
   */
  checkPrompt?(prompt: string, background: readonly string[], warn?: (msg: string) => void): void;
}

/** A generator's identity, { id: {}, background: [] } when it declares none. */
export function generatorIdentity(gen: MapGenerator): MapGeneratorIdentity {
  return gen.identity?.() ?? { id: {}, background: [] };
}
