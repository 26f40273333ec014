/** learning-to-look: the public API, one namespace per pipeline stage. */
export * from './data';
export * from './backend';
export { UserError } from './util/errors';
export { createRng, permutation, type Rng } from './util/rng';
export { writeFileAtomic, writeJsonAtomic } from './util/atomic';
export { encodePng, writePng, decodePng } from './report/png';
