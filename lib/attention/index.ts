import type { AttentionMethod, AttentionName } from './types';
import { UserError } from '../util/errors';
import { CamAttention } from './cam';
import { GradCamAttention } from './gradcam';
import { InputGradAttention } from './inputgrad';

export * from './types';
export { ChannelWeightedAttention } from './base';
export { CamAttention } from './cam';
export { GradCamAttention } from './gradcam';
export { InputGradAttention } from './inputgrad';

export const ATTENTION_NAMES: readonly AttentionName[] = ['cam', 'gradcam', 'inputgrad'];

export function createAttention(name: string): AttentionMethod {
  if (name === 'cam') return new CamAttention();
  if (name === 'gradcam') return new GradCamAttention();
  if (name === 'inputgrad') return new InputGradAttention();
  throw new UserError(`unknown attention method '${name}': use ${ATTENTION_NAMES.join(', ')}`);
}
