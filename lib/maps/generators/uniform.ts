import type { MapBatch, MapGenerator, MapRequest } from '../types';
import { UserError } from '../../util/errors';
import { emptyBatch, requestIndices } from './common';

export interface UniformOptions {
  /** The constant (default 1: "everything is the object"; only the shape of a map matters once normalised). */
  value?: number;
}

/** Control: a constant map, i.e. no spatial information at all. */
export class UniformGenerator implements MapGenerator {
  readonly name = 'uniform';
  readonly usesPrompt = false;
  readonly value: number;

  constructor(opts: UniformOptions = {}) {
    this.value = opts.value ?? 1;
    if (!(this.value >= 0 && this.value <= 1)) throw new UserError(`uniform map value must be in [0, 1], not ${opts.value}`);
  }

  async generate(req: MapRequest): Promise<MapBatch> {
    const idx = requestIndices(req);
    const out = emptyBatch(idx.length, req.split.height, req.split.width);
    out.data.fill(this.value);
    req.onProgress?.(idx.length, idx.length);
    return out;
  }
}
