/**
 * The embedded VLM: a small CLIP-style image-text model of our own (tokenizer, encoders, synthetic corpus,
 * trainer, checkpoint, map generator, evaluation). lib/vlm/register.ts provides its map generator as a map source.
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
export * from './attribute-span';
