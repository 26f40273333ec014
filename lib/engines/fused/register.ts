import { registerEngine, getEngineFactory } from '../registry';
import { FusedEngine, fusedUnsupported } from './engine';

/**
 * Engines for the trainer (imported for the side effect):
 *   --engine fused  the fused wasm kernel; refuses configs it cannot run (see fusedUnsupported);
 *   --engine auto   fused when it can run the config (lenet-gap: vanilla, align with cam, gradcam or inputgrad +
 *                   paper kl, rrr, cdep; sgd or adam), else tfjs (so eg, and every method on the cdep model, run
 *                   on tfjs).
 */
registerEngine('fused', {
  unsupported: (c) => fusedUnsupported(c),
  create: ({ config: c, optimizer, initialWeights, penalty, cdep }) => new FusedEngine({
    method: c.method as 'vanilla' | 'align' | 'rrr' | 'cdep', // fusedUnsupported refused every other method
    optimizer,
    initialWeights,
    temperature: c.temperature,
    attention: c.method === 'align' ? c.attention : undefined,
    penalty,
    cdep,
    drawSeed: c.seed, // as the tfjs engine's: the same CDEP pixels
  }),
});

registerEngine('auto', {
  unsupported: () => undefined,
  create: (args) => getEngineFactory(fusedUnsupported(args.config) ? 'tfjs' : 'fused', args.config).create(args),
});
