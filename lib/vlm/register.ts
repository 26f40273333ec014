import { registerGenerator, MAP_SOURCE, type GeneratorOptions } from '../maps/registry';

/**
 * Provides the map sources that are vision-language models (declared in lib/maps/registry.ts, MAP_SOURCES). Imported for
 * its side effect by the entry points (lib/index.ts, the `ltl` command, lib/experiments). A model's module is loaded
 * when its generator is created, not here: a command that makes no maps loads neither the embedded VLM nor
 * transformers.js.
 */
registerGenerator(MAP_SOURCE.embedded, async (o: GeneratorOptions) => {
  const { EmbeddedGenerator } = await import('./embedded/generator');
  return new EmbeddedGenerator({
    checkpoint: o.modelDir, batchSize: o.batchSize,
    temperature: typeof o.temperature === 'number' ? o.temperature : undefined,
    allowUnknownPrompt: o.allowUnknownPrompt === true,
    warn: typeof o.warn === 'function' ? o.warn : undefined,
    workers: typeof o.workers === 'number' ? o.workers : undefined,
    patchCacheDir: typeof o.patchCacheDir === 'string' ? o.patchCacheDir : undefined,
  });
});

registerGenerator(MAP_SOURCE.clipseg, async (o: GeneratorOptions) => {
  const { ClipSegGenerator } = await import('./clipseg');
  return ClipSegGenerator.load({
    modelId: o.modelId, modelDir: o.modelDir, allowRemote: o.allowRemote, batchSize: o.batchSize, dtype: o.dtype as string | undefined,
  });
});
