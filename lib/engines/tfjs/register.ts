import { registerEngine } from '../registry';
import { TfjsEngine } from './engine';
import { createModel } from '../../models';
import { createAttention } from '../../attention';
import { createLoss } from '../../losses';

registerEngine('tfjs', {
  unsupported: () => undefined,
  create: ({ config: c, optimizer, initialWeights, penalty, cdep }) => new TfjsEngine({
    model: createModel(c.model, c.seed, initialWeights),
    method: c.method,
    attention: c.method === 'align' ? createAttention(c.attention) : undefined,
    loss: c.method === 'align' ? createLoss(c.loss, { temperature: c.temperature }) : undefined,
    penalty,
    cdep,
    egReferences: c.egReferences,
    drawSeed: c.seed,
    optimizer,
  }),
});
