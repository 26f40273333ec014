import { registerEngine, getEngineFactory } from '../registry';
import { FusedEngine, fusedUnsupported } from './engine';

/**
 * Engines for the trainer (imported for the side effect):
 *   --engine fused  the fused wasm kernel; refuses configs it cannot run (see fusedUnsupported);
 *   --engine auto   fused when it can run the config (lenet-gap: vanilla, align with cam, gradcam or inputgrad +
 *                   paper kl, rrr, eg, cdep; sgd or adam), else tfjs (so every method on the cdep model runs on
 *                   tfjs).
 */
registerEngine('fused', {
  unsupported: (c) => fusedUnsupported(c),
  create: ({ config: c, optimizer, initialWeights, penalty, cdep }) => new FusedEngine({
    method: c.method as 'vanilla' | 'align' | 'rrr' | 'eg' | 'cdep', // fusedUnsupported refused every other method
    optimizer,
    initialWeights,
    temperature: c.temperature,
    attention: c.method === 'align' ? c.attention : undefined,
    penalty,
    cdep,
    // EG's draws and CDEP's pixels follow the run's seed, as the tfjs engine's (lib/engines/tfjs/register.ts)
    egReferences: c.egReferences,
    drawSeed: c.seed,
  }),
});

registerEngine('auto', {
  unsupported: () => undefined,
  create: (args) => getEngineFactory(fusedUnsupported(args.config) ? 'tfjs' : 'fused', args.config).create(args),
});
