import type { Diagnosis, DiagnosisExample, DiagnosisJson } from '../diagnose/types';
import { ATTRIBUTION_SHORT, DEFAULT_ATTRIBUTION, energyNoun, type AttributionName } from '../diagnose/attribution';
import { barFigure, showFigure, type Figure } from './plotly';
import { imageGridPng, netInputImage, showImageGrid, type GridTile } from './image-grid';
import { showTable, type Row } from './table';
import { showMarkdown } from './display';

/**
 * The pictures of a diagnosis (lib/diagnose): the ranking as a bar chart (flip rate against its two controls, and the
 * gradient share against its chance level, per prompt in rank order), a table of the numbers, and per prompt a few
 * images: the image, the prompt's map (for an attribute prompt: the net's gradient energy along its directions), the
 * net's input-gradient energy, and the counterfactual image, the row saying the prediction before and after.
 */

const pct = (x: number | null) => (x === null ? null : Math.round(1000 * x) / 10);

/** What the attention columns are of: the attribution's name ('gradient' for records made before there was a choice). */
function energyName(d: Pick<DiagnosisJson, 'settings'>): AttributionName {
  return d.settings.attribution ?? DEFAULT_ATTRIBUTION;
}

/** The numbers of a diagnosis as table rows, in rank order (percentages). */
export function diagnosisRows(d: DiagnosisJson): Row[] {
  return d.prompts.map((p, k) => ({
    rank: p.warning ? '-' : k + 1, prompt: p.prompt, kind: p.kind,
    'flip %': pct(p.flipRate), 'same-class flip %': pct(p.sameClassFlipRate), 'chance flip %': pct(p.chanceFlipRate),
    'acc drop (points)': pct(p.accuracyDrop),
    [`${energyName(d)} share %`]: pct(p.share), 'chance share %': pct(p.chance), lift: p.lift === null ? null : Math.round(100 * p.lift) / 100,
    warning: p.warning ?? '',
  }));
}

/** The ranking as a bar chart: per prompt (rank order) its flip rate, same-class and chance flip rates, gradient share and chance share, in %. */
export function diagnosisFigure(d: DiagnosisJson, title?: string): Figure {
  const names = d.prompts.map((p) => (p.warning ? `${p.prompt} (no verdict)` : p.prompt));
  const v = (f: (p: DiagnosisJson['prompts'][number]) => number | null) => d.prompts.map((p) => 100 * (f(p) ?? 0));
  const fig = barFigure(names, [
    { name: 'prediction changes when redrawn (flip %)', y: v((p) => p.flipRate) },
    { name: 'same, redrawn from an image of the same class', y: v((p) => p.sameClassFlipRate) },
    { name: 'same, a random region of equal area', y: v((p) => p.chanceFlipRate) },
    { name: `${energyName(d)} energy there (share %)`, y: v((p) => p.share) },
    { name: 'its chance level (area share %)', y: v((p) => p.chance) },
  ], {
    title: title ?? `What the net reads (${d.dataset}, ${d.images} ${d.split} images): ${d.top === null ? 'no prompt beyond chance' : JSON.stringify(d.top)}`,
    yTitle: '%', yRange: [0, 100],
  });
  return fig;
}

/** One row per example: image | prompt's map over it | gradient energy | counterfactual; labels say the predictions. */
function exampleRows(ex: readonly DiagnosisExample[], classes?: readonly string[]): { rows: GridTile[][]; labels: string[] } {
  const name = (y: number) => (classes ? `${y} ${classes[y] ?? ''}`.trim().slice(0, 10) : String(y));
  return {
    rows: ex.map((e) => [
      { image: netInputImage(e.image, e.size) },
      { image: netInputImage(e.image, e.size), map: e.map },
      { map: { data: e.energy, width: e.size, height: e.size } },
      { image: netInputImage(e.counterfactual, e.size) },
    ]),
    labels: ex.map((e) => `#${e.index} y=${name(e.label)}: ${name(e.before)} -> ${name(e.after)}${e.before !== e.after ? ' *' : ''}`),
  };
}

/** The example grid's columns (labels of at most 16 characters, the grid's width at scale 3): the second is the
 * prompt's map, or for an attribute prompt the attribution's energy along its directions; the third the attribution's energy. */
function columns(d: Partial<Pick<DiagnosisJson, 'settings'>>, kind?: 'region' | 'attribute'): string[] {
  const a = d.settings?.attribution ?? DEFAULT_ATTRIBUTION;
  return ['image', kind === 'attribute' ? 'along directions' : kind === 'region' ? 'prompt map' : 'map / along dirs', ATTRIBUTION_SHORT[a], 'counterfactual'];
}

/** The examples of one prompt as a PNG (the CLI's --figure), or of every prompt one after the other. */
export async function diagnosisExamplesPng(d: Pick<Diagnosis, 'examples'> & Partial<Pick<Diagnosis, 'settings'>>, o: { prompt?: string; scale?: number; classes?: readonly string[] } = {}): Promise<Buffer> {
  const ex = d.examples.filter((e) => o.prompt === undefined || e.prompt === o.prompt);
  const { rows, labels } = exampleRows(ex, o.classes);
  return imageGridPng(rows, { scale: o.scale ?? 3, rowLabels: ex.map((e, k) => `${e.prompt}: ${labels[k]}`), colLabels: columns(d, ex.every((e) => e.kind === ex[0]?.kind) ? ex[0]?.kind : undefined) });
}

/** Shows a diagnosis in a notebook: the verdict, the table, the bar chart, then each prompt's example images. */
export async function showDiagnosis(d: Diagnosis, o: { title?: string; classes?: readonly string[]; scale?: number } = {}): Promise<void> {
  showMarkdown(`**${o.title ?? 'Diagnosis'}** (${d.dataset}, ${d.images} ${d.split} images, accuracy ${(100 * d.accuracy).toFixed(1)} %): ${d.verdict}.`
    + (d.warnings.length ? `\n\n${d.warnings.map((w) => `* warning: ${w}`).join('\n')}` : ''));
  showTable(diagnosisRows(d), { caption: 'Prompts ranked by reliance (flip % minus same-class flip %)' });
  await showFigure(diagnosisFigure(d, o.title), { width: 760, height: 420 });
  for (const p of d.prompts) {
    const ex = d.examples.filter((e) => e.prompt === p.prompt);
    if (!ex.length) continue;
    const { rows, labels } = exampleRows(ex, o.classes);
    await showImageGrid(rows, {
      scale: o.scale ?? 3, rowLabels: labels, colLabels: columns(d, p.kind),
      caption: `${JSON.stringify(p.prompt)}: the image, ${p.kind === 'attribute' ? `the ${energyName(d)} energy along its directions` : 'its map'}, the net's ${energyNoun(energyName(d))} energy, and the image with it ${p.kind === 'attribute' ? 'recoloured' : 'redrawn from another image'}; prediction before -> after (* changed).`,
    });
  }
}
