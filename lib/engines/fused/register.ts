import { registerEngine, getEngineFactory } from '../registry';
import { FusedEngine, fusedUnsupported } from './engine';

/**
 * Engines for the trainer (imported for the side effect):
 *   --engine fused  the fused wasm kernel; refuses configs it cannot run (see fusedUnsupported);
 *   --engine auto   fused when it can run the config (lenet-gap: vanilla, align with cam, gradcam or inputgrad +
 *                   paper kl, rrr; sgd or adam), else tfjs (so cdep and eg always run on tfjs).
 */
registerEngine('fused', {
  unsupported: (c) => fusedUnsupported(c),
  create: ({ config: c, optimizer, initialWeights, penalty }) => new FusedEngine({
    method: c.method as 'vanilla' | 'align' | 'rrr', // fusedUnsupported refused every other method
    optimizer,
    initialWeights,
    temperature: c.temperature,
    attention: c.method === 'align' ? c.attention : undefined,
    penalty,
  }),
});

registerEngine('auto', {
  unsupported: () => undefined,
  create: (args) => getEngineFactory(fusedUnsupported(args.config) ? 'tfjs' : 'fused', args.config).create(args),
});
