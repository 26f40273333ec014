import type { MapBatch, MapGenerator, MapGeneratorIdentity, MapRequest } from '../types';
import { UserError } from '../../util/errors';
import { emptyBatch, progressTicker, requestIndices } from './common';

export interface OracleOptions {
  /**
   * Which pixel-exact mask to return: 'digit' (the object, grey > 10; the annotation-based upper
   * bound) or 'shortcut' (the decoy patch: an adversarial control that points at the shortcut).
   */
  target?: 'digit' | 'shortcut';
}

/**
 * Oracle maps: the split's own pixel-exact masks as 0/1 maps. They need annotation (here we get
 * it for free from the data builder), so they are for ablations only, never a method result.
 */
export class OracleGenerator implements MapGenerator {
  readonly name = 'oracle';
  readonly usesPrompt = false;
  readonly target: 'digit' | 'shortcut';

  constructor(opts: OracleOptions = {}) {
    this.target = opts.target ?? 'digit';
    if (this.target !== 'digit' && this.target !== 'shortcut') {
      throw new UserError(`oracle target must be 'digit' or 'shortcut', not '${String(this.target)}'`);
    }
  }

  identity(): MapGeneratorIdentity {
    return { id: { target: this.target }, background: [] };
  }

  async generate(req: MapRequest): Promise<MapBatch> {
    const { split } = req;
    const masks = this.target === 'digit' ? split.digitMasks : split.shortcutMasks;
    if (!masks) throw new UserError(`oracle target 'shortcut' needs a spatial shortcut; the ${split.split} split has no shortcut masks`);
    const idx = requestIndices(req);
    const hw = split.height * split.width;
    const out = emptyBatch(idx.length, split.height, split.width);
    const tick = progressTicker(idx.length, req.onProgress, 4096);
    for (let k = 0; k < idx.length; k++) {
      const src = masks.subarray(idx[k] * hw, (idx[k] + 1) * hw);
      const dst = out.data.subarray(k * hw, (k + 1) * hw);
      for (let p = 0; p < hw; p++) dst[p] = src[p];
      tick(k + 1);
    }
    return out;
  }
}
