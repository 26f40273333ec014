import type { MapGenerator } from './types';
import { UserError } from '../util/errors';
import { OracleGenerator } from './generators/oracle';
import { UniformGenerator } from './generators/uniform';
import { RandomGenerator } from './generators/random';

/**
 * Options any generator may read; each takes what it understands and ignores the rest, so one
 * CLI can pass the same bag to every generator.
 */
export interface GeneratorOptions {
  /** Local model folder (clipseg, embedded). */
  modelDir?: string;
  /** Model id on the hub / under modelDir (clipseg). */
  modelId?: string;
  /** Allow downloads from the model hub (clipseg); default: env LTL_ALLOW_REMOTE_MODELS=1. */
  allowRemote?: boolean;
  /** Images per forward pass. */
  batchSize?: number;
  /** Default seed (random). */
  seed?: number;
  /** random: 'blobs' | 'noise'; oracle: unused. */
  mode?: string;
  /** oracle: 'digit' | 'shortcut' (default: by `role`). */
  target?: string;
  /** The side of a constraint the maps are for: 'positive' (where the evidence is) or 'negative' (where it must not
   * come from). Read by sources whose maps depend on it (GeneratorInfo.perRole): oracle gives the digit, or the shortcut. */
  role?: 'positive' | 'negative';
  /** uniform: the constant. */
  value?: number;
  /** embedded: make maps even for a prompt with no known word (warn instead of refusing). */
  allowUnknownPrompt?: boolean;
  /** Receives warnings (e.g. unknown prompt words). */
  warn?: (msg: string) => void;
  [key: string]: unknown;
}

export type GeneratorFactory = (opts: GeneratorOptions) => MapGenerator | Promise<MapGenerator>;

/** What a map source is, apart from how it is made. */
export interface SourceDeclaration {
  description: string;
  /** Whether its maps follow the prompt (a run with it needs one; its maps are cached per prompt). */
  usesPrompt: boolean;
  /** Whether its maps differ by the role of the prompt (GeneratorOptions.role): one generator per role then. */
  perRole?: boolean;
}

export interface GeneratorInfo extends SourceDeclaration {
  name: string;
  factory: GeneratorFactory;
}

/**
 * The map sources the project ships: the only list of their names. oracle, uniform and random are made here; the
 * vision-language models are provided by lib/vlm/register.ts, which the entry points import (the package's index, the
 * `ltl` command, lib/experiments) and which loads a model's code only when its generator is created, so that a
 * command that makes no maps loads no VLM (and never transformers.js).
 */
export const MAP_SOURCES = {
  embedded: { description: 'the embedded VLM (our small CLIP-style model, checkpoint data/vlm): softmax of patch-prompt similarity against background prompts', usesPrompt: true },
  clipseg: { description: 'CLIPSeg via transformers.js (default Xenova/clipseg-rd64-refined; --model-dir for a local folder)', usesPrompt: true },
  oracle: { description: "the split's pixel-exact digit masks (annotation upper bound; ablations only)", usesPrompt: false, perRole: true },
  uniform: { description: 'a constant map (control: no spatial information)', usesPrompt: false },
  random: { description: 'seeded smooth random blobs, or uniform noise with mode=noise (control)', usesPrompt: false },
} as const satisfies Record<string, SourceDeclaration>;

/** The name of a map source the project ships. */
export type MapSourceName = keyof typeof MAP_SOURCES;

/**
 * The shipped sources' names as values (`MAP_SOURCE.embedded`), for code outside lib/maps that names one: a typo is a
 * type error, and MAP_SOURCES stays the only list of them.
 */
export const MAP_SOURCE = Object.fromEntries(Object.keys(MAP_SOURCES).map((k) => [k, k])) as { readonly [K in MapSourceName]: K };

/** Who provides the sources that lib/maps declares but does not make. */
const PROVIDER = 'lib/vlm/register.ts';

const registry = new Map<string, GeneratorInfo>();

/** Registers (or replaces) a generator under a name: a shipped source's (its declaration is kept) or a user's own. */
export function registerGenerator(name: string, factory: GeneratorFactory, info: Partial<SourceDeclaration> = {}): void {
  if (!/^[a-z][a-z0-9_-]*$/.test(name)) throw new Error(`generator name '${name}' must be lower-case letters, digits, - or _`);
  const declared = declaration(name);
  registry.set(name, {
    name, factory,
    description: info.description ?? declared?.description ?? '',
    usesPrompt: info.usesPrompt ?? declared?.usesPrompt ?? true,
    perRole: info.perRole ?? declared?.perRole ?? false,
  });
}

function declaration(name: string): SourceDeclaration | undefined {
  return Object.prototype.hasOwnProperty.call(MAP_SOURCES, name) ? MAP_SOURCES[name as MapSourceName] : undefined;
}

/** Names of the shipped map sources and of the generators registered besides them. */
export function listGenerators(): string[] {
  return [...new Set([...registry.keys(), ...Object.keys(MAP_SOURCES)])].sort();
}

/** Whether `name` names a map source (shipped or registered), rather than, say, a map file. */
export function isMapSource(name: string): boolean {
  return registry.has(name) || declaration(name) !== undefined;
}

/** Whether a map source's maps follow the prompt (false for a name that is no source). */
export function sourceUsesPrompt(name: string): boolean {
  return (registry.get(name) ?? declaration(name))?.usesPrompt ?? false;
}

export function getGeneratorInfo(name: string): GeneratorInfo {
  const info = registry.get(name);
  if (info) return info;
  if (declaration(name)) {
    throw new UserError(`map generator '${name}' is provided by ${PROVIDER}, which this program did not import (the package's index and the ltl command do)`);
  }
  throw new UserError(`unknown map generator '${name}'; known: ${listGenerators().join(', ')}`);
}

/** Creates a generator by name: a shipped map source (MAP_SOURCES) or a registered one. */
export async function createGenerator(name: string, opts: GeneratorOptions = {}): Promise<MapGenerator> {
  return getGeneratorInfo(name).factory(opts);
}

registerGenerator('oracle', (o) => new OracleGenerator({ target: oracleTarget(o) }));
registerGenerator('uniform', (o) => new UniformGenerator({ value: o.value }));
registerGenerator('random', (o) => new RandomGenerator({ mode: o.mode as 'blobs' | 'noise' | undefined, seed: o.seed }));

/** The oracle's mask: the one asked for, else the digit for a positive prompt and the shortcut for a negative one. */
function oracleTarget(o: GeneratorOptions): 'digit' | 'shortcut' {
  return (o.target ?? (o.role === 'negative' ? 'shortcut' : 'digit')) as 'digit' | 'shortcut';
}
