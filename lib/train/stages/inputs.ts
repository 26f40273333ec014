import * as fs from 'node:fs';
import { isMapSource } from '../../maps/registry';
import { MapStoreReader } from '../../maps/store';
import { sha256 } from '../../util/hash';
import { UserError } from '../../util/errors';
import type { TrainConfig } from '../config';
import type { RunInputs } from '../result';
import type { RunData } from './data';
import type { RunMaps } from './maps';

/** What the run is made from, by checksum (result.json `inputs`, and every checkpoint's): the data and align's targets. */
export function runInputs(config: TrainConfig, d: RunData, maps: RunMaps): RunInputs {
  return {
    dataset: d.ds.name, datasetChecksum: d.ds.checksum,
    targetsSha256: maps.targets ? sha256(maps.targets.data, maps.valTargets?.data ?? new Float32Array(0)) : null,
    ...(config.method === 'align' ? mapsFileInputs(config.maps) : {}),
  };
}

/** The map file's own checksum and prompt, when --maps names a file (for the resume message). */
function mapsFileInputs(maps: string): Pick<RunInputs, 'mapsFile'> {
  if (isMapSource(maps) || !fs.existsSync(maps)) return {};
  const r = MapStoreReader.open(maps, {}, { verify: false });
  try {
    return { mapsFile: { payloadSha256: r.header.payloadSha256, generator: r.header.generator, prompt: r.header.prompt } };
  } finally {
    r.close();
  }
}

/** A resume (or a finished run returned again) must find the data and maps it was made from (by checksum, not by path). */
export function checkInputs(was: RunInputs | undefined, now: RunInputs, outDir: string, what: 'checkpoint' | 'finished run' = 'checkpoint'): void {
  const short = (s: string | null | undefined) => (s ? `${s.slice(0, 12)}...` : 'none');
  if (!was || typeof was.datasetChecksum !== 'string') {
    throw new UserError(what === 'checkpoint'
      ? `checkpoint in ${outDir} does not record the checksums of its data and maps; delete it to restart the run`
      : `the finished run in ${outDir} does not record the checksums of its data and maps, so it cannot be shown to be of these inputs; use another --out folder or delete this one`);
  }
  if (was.datasetChecksum !== now.datasetChecksum) {
    throw new UserError(`--out ${outDir} was trained on other data: dataset ${was.dataset} had checksum ${short(was.datasetChecksum)}, ${now.dataset} now has ${short(now.datasetChecksum)} (another data seed, base files or shortcut rule?); use another --out folder or delete this one`);
  }
  if (was.targetsSha256 !== now.targetsSha256) {
    const file = (m: RunInputs['mapsFile']) => (m ? ` (${m.generator} maps, prompt ${JSON.stringify(m.prompt)}, payload ${short(m.payloadSha256)})` : '');
    throw new UserError(`--out ${outDir} was trained with other target maps: their checksum was ${short(was.targetsSha256)}${file(was.mapsFile)}, the maps give ${short(now.targetsSha256)} now${file(now.mapsFile)}; restore the map file or use another --out folder`);
  }
}
