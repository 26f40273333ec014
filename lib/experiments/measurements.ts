import type { ShortcutDataset } from '../data/types';
import { loadDataset } from '../data';
import { dataCacheDir } from '../report/paths';
import { createGenerator, MAP_SOURCE } from '../maps/registry';
import { mapQuality } from '../evaluate/map-quality';
import { gradientShares, inputGradients, runWeightsEpoch, shortcutShare, shortcutShareLabel } from '../evaluate/saliency';
import { MEASURE_MASKS, promptRegions } from '../train/prompt-constraint';
import type { Profile } from './profiles';
import { ABLATION_PROMPTS, ablationDefault } from './run-specs';
import type { FinishedRun, RunLooks } from './run-types';
import '../vlm/register'; // the embedded VLM's maps of the ablation's prompts

/** What the notebooks measure besides training: where a trained net looks, what the ablation's prompts' maps cover. */

/** Test images measured for RunLooks: the first N (at most the run's evaluated test images). */
export const LOOK_IMAGES = 500;

/** Measures where a finished run's net looks on test images (input gradients of its validation-selected epoch). */
export function measureLooks(run: FinishedRun, ds: ShortcutDataset, images = LOOK_IMAGES): RunLooks {
  const n = Math.min(images, run.config.evalLimit ?? images, ds.test.count);
  const idx = Array.from({ length: n }, (_, i) => i);
  const g = inputGradients(run.config, { runDir: run.dir }, ds.test, idx);
  const s = gradientShares(g, ds.test, idx);
  return { epoch: runWeightsEpoch(run.dir), images: n, shortcut: shortcutShare(s), shortcutIs: shortcutShareLabel(ds.test), digit: s.onDigit };
}

/**
 * What the ablation's prompts give on validation images (embedded VLM, the first `images` of each dataset's
 * validation split): where each map's mass lies, and the region the training mask is made from (threshold 0.5,
 * dilated by 2 px for a positive prompt, 1 px for a negative one, as --prompt-dilate / --negative-dilate default):
 * how many images get an empty region (no constraint from that map), its area, and how much of the shortcut's pixels
 * it covers. Validation images only: the measurement behind the prompts' rows, before any training.
 */
export async function ablationPromptRows(profile: Profile, datasets: Record<string, ShortcutDataset> = {}, images = 300): Promise<Record<string, string | number>[]> {
  const a = profile.ablation;
  const uses: { dataset: string; prompt: string; role: 'positive' | 'negative' }[] = [];
  for (const spec of ABLATION_PROMPTS) {
    const c = { ...ablationDefault(profile), ...spec.config };
    const dataset = spec.factor === 'attribute prompt' ? a.colourDataset : a.dataset;
    const add = (prompt: string, role: 'positive' | 'negative') => {
      if (!uses.some((u) => u.dataset === dataset && u.prompt === prompt && u.role === role)) uses.push({ dataset, prompt, role });
    };
    if (c.prompt) add(c.prompt, 'positive');
    for (const p of c.negativePrompts ?? []) add(p, 'negative');
  }
  const gen = await createGenerator(MAP_SOURCE.embedded);
  try {
    const rows: Record<string, string | number>[] = [];
    for (const u of uses) {
      const ds = (datasets[u.dataset] ??= loadDataset(u.dataset, { cacheDir: dataCacheDir() }));
      const split = ds.val;
      const n = Math.min(images, split.count);
      const indices = Int32Array.from({ length: n }, (_, i) => i);
      const maps = await gen.generate({ split, indices, prompt: u.prompt });
      const q = mapQuality(maps, split);
      const region = promptRegions(maps, { threshold: MEASURE_MASKS.threshold, radius: u.role === 'positive' ? MEASURE_MASKS.positiveRadius : MEASURE_MASKS.negativeRadius }, split.height);
      const hw = split.height * split.width;
      let empty = 0, area = 0, onShortcut = 0, shortcutPx = 0;
      for (let k = 0; k < n; k++) {
        let any = 0;
        for (let p = 0; p < hw; p++) {
          const v = region[k * hw + p];
          any += v; area += v;
          if (split.shortcutMasks?.[k * hw + p]) { shortcutPx++; onShortcut += v; }
        }
        if (!any) empty++;
      }
      rows.push({
        dataset: u.dataset, prompt: `"${u.prompt}" (${u.role})`, 'validation images': n,
        'map mass on the digit %': 100 * q.digitMass, 'map mass on the shortcut %': q.decoyMass === null ? '' : 100 * q.decoyMass,
        'images with an empty region': empty, 'region area % of the image': (100 * area) / (n * hw),
        'shortcut pixels inside the region %': shortcutPx ? (100 * onShortcut) / shortcutPx : '',
      });
    }
    return rows;
  } finally {
    gen.dispose?.();
  }
}
