import { heatmapFigure, type Figure } from './plotly';
import { classLabels } from './image-grid';
import type { ShortcutStats } from '../evaluate/shortcut-stats';

/** The label-vs-shortcut heatmaps (train and test) of a dataset's summary. */
export function shortcutHeatmaps(ds: { name: string; shortcut: string; classes: readonly string[] }, s: { train: ShortcutStats; test: ShortcutStats }): Figure[] {
  return (['train', 'test'] as const).map((split) => {
    const st = s[split];
    return heatmapFigure(st.counts, {
      title: `${ds.name}, ${split}: label vs shortcut (${st.feature.length} images)`,
      x: st.featureNames, y: classLabels(ds.classes),
      xTitle: ds.shortcut === 'color' ? 'palette colour' : 'square brightness', yTitle: 'label', annotate: true,
    });
  });
}
