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

export interface MapGenerator {
  /** 'embedded' | 'clipseg' | 'oracle' | 'uniform' | 'random' | a user's own. */
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
}
