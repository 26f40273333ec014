/**
 * Remakes the maps of embedded-VLM map stores with the current generator and counts differing bytes: a check
 * that a change to the map path leaves every map as it was (the stores are only read).
 *
 *   node --import tsx scripts/check-map-stores.ts data/cache/maps [maps per file]
 *
 * Stores of another checkpoint or temperature, or of a dataset whose checksum changed, are skipped (said so).
 * Exit status 1 if any byte differs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { initBackend } from '../lib/backend';
import { loadDataset } from '../lib/data';
import { MapStoreReader, quantizeMaps } from '../lib/maps/store';
import { MAP_SOURCE } from '../lib/maps/registry';
import { EmbeddedGenerator } from '../lib/vlm/embedded/generator';

async function main(): Promise<void> {
  const [dir, limitText] = process.argv.slice(2);
  if (!dir) throw new Error('usage: check-map-stores.ts DIR [maps per file]');
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new Error(`${dir} is not a folder of map stores`);
  const limit = limitText ? Number(limitText) : Infinity;
  if (limitText && !(Number.isInteger(limit) && limit >= 1)) throw new Error(`maps per file must be an integer >= 1, not '${limitText}'`);
  await initBackend();
  const g = new EmbeddedGenerator({ warn: (m) => console.log(`warning: ${m}`) });
  const { meta } = g.load();
  let differing = 0;
  try {
    await g.startWorkers();
    for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.maps.safetensors')).sort()) {
      const r = MapStoreReader.open(path.join(dir, f));
      const h = r.header;
      const n = Math.min(h.count, limit);
      const idx = Array.from(r.indices.subarray(0, n));
      const hw = h.height * h.width;
      const stored = r.readAllBytes().subarray(0, n * hw);
      r.close();
      const id = (h.extra as { generatorId?: { checkpoint?: string; temperature?: number } } | undefined)?.generatorId;
      if (h.generator !== MAP_SOURCE.embedded || id?.checkpoint !== meta.identity || id?.temperature !== g.defaults.temperature) {
        console.log(`${f}: skipped (another generator, checkpoint or temperature)`);
        continue;
      }
      const ds = loadDataset(h.dataset);
      if (ds.checksum !== h.datasetChecksum) {
        console.log(`${f}: skipped (the dataset's checksum changed)`);
        continue;
      }
      const t0 = performance.now();
      const maps = await g.generate({ split: ds[h.split], indices: idx, prompt: h.prompt, background: h.background });
      const q = quantizeMaps(maps.data);
      let d = 0;
      for (let i = 0; i < q.length; i++) if (q[i] !== stored[i]) d++;
      differing += d;
      console.log(`${f}: ${h.dataset} ${h.split} ${JSON.stringify(h.prompt)}, ${n} maps, ${d} differing bytes (${(n / ((performance.now() - t0) / 1000)).toFixed(0)} maps/s)`);
    }
  } finally {
    g.dispose();
  }
  console.log(differing === 0 ? 'every map equal' : `${differing} bytes differ`);
  process.exitCode = differing === 0 ? 0 : 1;
}

main().catch((e: Error) => {
  console.error(`check-map-stores: ${e.message}`);
  process.exit(2);
});
