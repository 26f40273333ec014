import { registerGenerator } from '../../maps/registry';
import { EmbeddedGenerator } from './generator';

/**
 * The embedded VLM: a small CLIP-style image-text model of our own (tokenizer, encoders, synthetic corpus,
 * trainer, checkpoint, map generator, evaluation). Importing this module registers the 'embedded' map
 * generator (lib/maps/registry loads it on demand).
 */
export * from './tokenizer';
export * from './lexicon';
export * from './corpus';
export * from './model';
export * from './train';
export * from './checkpoint';
export * from './generator';
export * from './map-engine';
export * from './patch-cache';
export * from './image-block';

registerGenerator('embedded', (o) => new EmbeddedGenerator({
  checkpoint: o.modelDir, batchSize: o.batchSize,
  temperature: typeof o.temperature === 'number' ? o.temperature : undefined,
  allowUnknownPrompt: o.allowUnknownPrompt === true,
  warn: typeof o.warn === 'function' ? (o.warn as (msg: string) => void) : undefined,
  workers: typeof o.workers === 'number' ? o.workers : undefined,
  patchCacheDir: typeof o.patchCacheDir === 'string' ? o.patchCacheDir : undefined,
}), { description: 'the embedded VLM (our small CLIP-style model, checkpoint data/vlm): softmax of patch-prompt similarity against background prompts', usesPrompt: true });
export * from './attribute-span';
