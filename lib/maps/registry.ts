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
  /** oracle: 'digit' | 'shortcut'. */
  target?: string;
  /** uniform: the constant. */
  value?: number;
  /** embedded: make maps even for a prompt with no known word (warn instead of refusing). */
  allowUnknownPrompt?: boolean;
  /** Receives warnings (e.g. unknown prompt words). */
  warn?: (msg: string) => void;
  [key: string]: unknown;
}

export type GeneratorFactory = (opts: GeneratorOptions) => MapGenerator | Promise<MapGenerator>;

export interface GeneratorInfo {
  name: string;
  description: string;
  usesPrompt: boolean;
  factory: GeneratorFactory;
}

const registry = new Map<string, GeneratorInfo>();

/**
 * Modules that register a generator when first required. A generator living elsewhere (e.g.
 * lib/vlm/embedded, which calls registerGenerator('embedded', ...) at import) plugs in here
 * without this file knowing its code; it is loaded only when asked for, so transformers.js or a
 * checkpoint is not loaded by commands that do not need them.
 */
const lazyModules: Record<string, string> = {
  clipseg: '../vlm/clipseg',
  embedded: '../vlm/embedded',
};

/** Registers (or replaces) a generator under a name. */
export function registerGenerator(name: string, factory: GeneratorFactory, info: { description?: string; usesPrompt?: boolean } = {}): void {
  if (!/^[a-z][a-z0-9_-]*$/.test(name)) throw new Error(`generator name '${name}' must be lower-case letters, digits, - or _`);
  registry.set(name, { name, factory, description: info.description ?? '', usesPrompt: info.usesPrompt ?? true });
}

/** Names of registered generators plus those that can be loaded on demand. */
export function listGenerators(): string[] {
  return [...new Set([...registry.keys(), ...Object.keys(lazyModules)])].sort();
}

function loadLazy(name: string): void {
  const mod = lazyModules[name];
  if (!mod || registry.has(name)) return;
  try {
    require(mod);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'MODULE_NOT_FOUND' && String(err.message).includes(mod.replace(/^(\.\.?\/)+/, ''))) {
      throw new UserError(`map generator '${name}' is not available in this build (lib/${mod.replace(/^(\.\.?\/)+/, '')}/index.ts or .ts, which registers it, is missing)`);
    }
    throw e;
  }
}

export function getGeneratorInfo(name: string): GeneratorInfo {
  loadLazy(name);
  const info = registry.get(name);
  if (!info) throw new UserError(`unknown map generator '${name}'; known: ${listGenerators().join(', ')}`);
  return info;
}

/** Creates a generator by name: 'oracle' | 'uniform' | 'random' | 'clipseg' | 'embedded' | a registered one. */
export async function createGenerator(name: string, opts: GeneratorOptions = {}): Promise<MapGenerator> {
  return getGeneratorInfo(name).factory(opts);
}

registerGenerator('oracle', (o) => new OracleGenerator({ target: o.target as any }), {
  description: "the split's pixel-exact digit masks (annotation upper bound; ablations only)", usesPrompt: false,
});
registerGenerator('uniform', (o) => new UniformGenerator({ value: o.value }), {
  description: 'a constant map (control: no spatial information)', usesPrompt: false,
});
registerGenerator('random', (o) => new RandomGenerator({ mode: o.mode as any, seed: o.seed }), {
  description: 'seeded smooth random blobs, or uniform noise with mode=noise (control)', usesPrompt: false,
});
