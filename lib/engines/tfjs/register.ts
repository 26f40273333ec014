import { registerEngine } from '../registry';
import { TfjsEngine } from './engine';
import { createModel } from '../../models';
import { createAttention } from '../../attention';
import { createLoss } from '../../losses';

/** The most interpolated images (batch x EG references) one tfjs step is allowed: each takes about 1.5 MB through the
 * double backprop (measured on the wasm backend, LeNet-GAP), so 2^20 of them are over a terabyte, beyond any memory;
 * below it a step that does not fit fails as one line too (TfjsEngine.trainStep). */
export const TFJS_MAX_EG_IMAGES = 2 ** 20;

registerEngine('tfjs', {
  unsupported: (c) => {
    const images = c.method === 'eg' ? (c.batch ?? 1) * c.egReferences : 0;
    return images > TFJS_MAX_EG_IMAGES
      ? `a step of ${c.batch ?? 1} images x ${c.egReferences} EG references is ${images} interpolated images, more than any memory holds (at most ${TFJS_MAX_EG_IMAGES}); use fewer --eg-references or a smaller --batch`
      : undefined;
  },
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
