import { Jimp, loadFont, measureText } from 'jimp';
import type { ImageSplit } from '../data/types';
import type { MapBatch } from '../maps/types';
import { resizeBilinearRaw } from '../maps/postprocess';
import { displayBundle, escapeHtml } from './display';

/**
 * Image grids (jimp): dataset images, attention/target maps, and maps overlaid on images, with row
 * and column labels, as one PNG. Used for the dataset examples, prompt comparisons and CAMs.
 */
export interface GridImage {
  pixels: Uint8Array; // HWC uint8
  width: number;
  height: number;
  channels: 1 | 3;
}
export interface GridMap {
  data: ArrayLike<number>; // height * width, any range (normalised per tile unless told otherwise)
  width: number;
  height: number;
}
export interface GridTile {
  image?: GridImage;
  map?: GridMap;
}
export interface GridOptions {
  /** Pixels per image pixel (nearest neighbour); default 3. */
  scale?: number;
  gap?: number;
  rowLabels?: readonly string[];
  colLabels?: readonly string[];
  /** Opacity of a map over an image (default 0.6). */
  alpha?: number;
  /** Min-max normalise each map to [0,1] before colouring (default true). */
  normalize?: boolean;
}

/** One image of a split as a grid image (a view, no copy). */
export function splitImage(split: ImageSplit, i: number): GridImage {
  const n = split.height * split.width * split.channels;
  return { pixels: split.images.subarray(i * n, (i + 1) * n), width: split.width, height: split.height, channels: split.channels };
}

/** Image k of a batch of net inputs ([n, S, S, 3] in [-1, 1], as prepareImages makes them) as a grid image. */
export function netInputImage(x: Float32Array, size: number, k = 0): GridImage {
  const n = size * size * 3;
  const pixels = Uint8Array.from(x.subarray(k * n, (k + 1) * n), (v) => Math.round(Math.min(1, Math.max(0, (v + 1) / 2)) * 255));
  return { pixels, width: size, height: size, channels: 3 };
}

/** Map i of a batch. */
export function batchMap(batch: MapBatch, i: number): GridMap {
  const n = batch.height * batch.width;
  return { data: batch.data.subarray(i * n, (i + 1) * n), width: batch.width, height: batch.height };
}

/** A perceptual-ish dark-to-bright ramp (inferno-like): value in [0,1] -> RGB. */
const RAMP: readonly [number, number, number][] = [
  [0, 0, 4], [66, 10, 104], [147, 38, 103], [221, 81, 58], [252, 165, 10], [252, 255, 164],
];
export function colormap(v: number): [number, number, number] {
  const t = Math.max(0, Math.min(1, Number.isFinite(v) ? v : 0)) * (RAMP.length - 1);
  const i = Math.min(RAMP.length - 2, Math.floor(t));
  const f = t - i;
  const a = RAMP[i];
  const b = RAMP[i + 1];
  return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f];
}

/** A map bilinearly resized to (width x height) (half-pixel centres, as lib/maps/postprocess), optionally min-max normalised. */
export function resizeMap(map: GridMap, width: number, height: number, normalize = true): Float32Array {
  let lo = Infinity;
  let hi = -Infinity;
  for (let k = 0; k < map.width * map.height; k++) {
    const v = map.data[k];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const range = normalize && hi > lo ? hi - lo : 1;
  const base = normalize && hi > lo ? lo : 0;
  const src = map.data instanceof Float32Array || map.data instanceof Uint8Array ? map.data : Float32Array.from(map.data);
  const out = resizeBilinearRaw(src, 1, map.height, map.width, 1, height, width);
  for (let i = 0; i < out.length; i++) out[i] = (out[i] - base) / range;
  return out;
}

/** Renders one tile (image, map, or map over image) into RGB at the image's (or map's) own size. */
export function renderTile(tile: GridTile, alpha = 0.6, normalize = true): { rgb: Uint8Array; width: number; height: number } {
  const w = tile.image?.width ?? tile.map?.width ?? 1;
  const h = tile.image?.height ?? tile.map?.height ?? 1;
  const rgb = new Uint8Array(w * h * 3);
  const m = tile.map ? resizeMap(tile.map, w, h, normalize) : undefined;
  for (let p = 0; p < w * h; p++) {
    let r = 0, g = 0, b = 0;
    if (tile.image) {
      const c = tile.image.channels;
      r = tile.image.pixels[p * c];
      g = c === 1 ? r : tile.image.pixels[p * c + 1];
      b = c === 1 ? r : tile.image.pixels[p * c + 2];
    }
    if (m) {
      const [cr, cg, cb] = colormap(m[p]);
      const a = tile.image ? alpha : 1;
      r = r * (1 - a) + cr * a;
      g = g * (1 - a) + cg * a;
      b = b * (1 - a) + cb * a;
    }
    rgb[3 * p] = r; rgb[3 * p + 1] = g; rgb[3 * p + 2] = b;
  }
  return { rgb, width: w, height: h };
}

let fontP: Promise<any> | undefined;
function labelFont(): Promise<any> {
  // node10 resolution cannot see the 'jimp/fonts' export map's types; the runtime require works.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const p = fontP ?? loadFont(require('jimp/fonts').SANS_10_BLACK);
  fontP = p;
  return p;
}

/** Renders rows of tiles as one PNG on a white background, with optional row and column labels. */
export async function imageGridPng(rows: readonly (readonly GridTile[])[], opts: GridOptions = {}): Promise<Buffer> {
  const scale = opts.scale ?? 3;
  const gap = opts.gap ?? 2;
  const rendered = rows.map((r) => r.map((t) => renderTile(t, opts.alpha, opts.normalize ?? true)));
  const cellW = Math.max(1, ...rendered.flat().map((t) => t.width)) * scale;
  const cellH = Math.max(1, ...rendered.flat().map((t) => t.height)) * scale;
  const cols = Math.max(1, ...rows.map((r) => r.length));
  const font = opts.rowLabels || opts.colLabels ? await labelFont() : undefined;
  const left = opts.rowLabels ? Math.max(0, ...opts.rowLabels.map((l) => measureText(font, l))) + 8 : 0;
  const top = opts.colLabels ? 16 : 0;
  const W = left + cols * (cellW + gap) + gap;
  const H = top + rows.length * (cellH + gap) + gap;
  const img = new Jimp({ width: W, height: H, color: 0xffffffff });
  const data = img.bitmap.data;
  rendered.forEach((row, ri) =>
    row.forEach((t, ci) => {
      const ox = left + gap + ci * (cellW + gap);
      const oy = top + gap + ri * (cellH + gap);
      for (let y = 0; y < t.height * scale; y++) {
        for (let x = 0; x < t.width * scale; x++) {
          const s = (Math.floor(y / scale) * t.width + Math.floor(x / scale)) * 3;
          const d = ((oy + y) * W + ox + x) * 4;
          data[d] = t.rgb[s]; data[d + 1] = t.rgb[s + 1]; data[d + 2] = t.rgb[s + 2]; data[d + 3] = 255;
        }
      }
    }),
  );
  if (font && opts.rowLabels) {
    opts.rowLabels.forEach((text, ri) => img.print({ font, x: 2, y: top + gap + ri * (cellH + gap) + Math.max(0, cellH / 2 - 6), text }));
  }
  if (font && opts.colLabels) {
    opts.colLabels.forEach((text, ci) => img.print({ font, x: left + gap + ci * (cellW + gap), y: 1, text: text.slice(0, Math.max(1, Math.floor(cellW / 6))) }));
  }
  return img.getBuffer('image/png');
}

/**
 * Displays a grid (image/png, with a caption as HTML so the exported report keeps it). Returns nothing,
 * so a cell ending in `await showImageGrid(...)` does not also print the PNG's bytes.
 */
export async function showImageGrid(rows: readonly (readonly GridTile[])[], opts: GridOptions & { caption?: string } = {}): Promise<void> {
  const png = await imageGridPng(rows, opts);
  const caption = opts.caption ?? '';
  const b64 = png.toString('base64');
  displayBundle({
    'text/html': `<figure class="ltl-grid" style="margin:0"><img alt="${escapeHtml(caption || 'image grid')}" src="data:image/png;base64,${b64}">${caption ? `<figcaption style="font-size:90%;color:#555">${escapeHtml(caption)}</figcaption>` : ''}</figure>`,
    'image/png': png,
    'text/plain': `[image grid ${rows.length}x${Math.max(0, ...rows.map((r) => r.length))}${caption ? ': ' + caption : ''}]`,
  });
}

/**
 * Indices of the first `perClass` images of each class in a split, class by class: the rows of an
 * examples grid.
 */
export function examplesPerClass(split: ImageSplit, perClass: number, classes = 10): number[][] {
  const rows: number[][] = Array.from({ length: classes }, () => []);
  for (let i = 0; i < split.count; i++) {
    const y = split.labels[i];
    if (y < classes && rows[y].length < perClass) rows[y].push(i);
    if (rows.every((r) => r.length >= perClass)) break;
  }
  return rows;
}

/**
 * A dataset at a glance: one row per class, `perClass` training images then `perClass` test images
 * (the test split carries the reversed shortcut).
 */
export async function showDatasetExamples(ds: { name: string; classes: readonly string[]; train: ImageSplit; test: ImageSplit }, perClass = 4, scale = 2): Promise<void> {
  const tr = examplesPerClass(ds.train, perClass, ds.classes.length);
  const te = examplesPerClass(ds.test, perClass, ds.classes.length);
  const rows = tr.map((r, y) => [...r.map((i) => ({ image: splitImage(ds.train, i) })), ...te[y].map((i) => ({ image: splitImage(ds.test, i) }))]);
  const colLabels = [...Array(perClass).fill('train'), ...Array(perClass).fill('test')];
  return showImageGrid(rows, {
    scale, rowLabels: classLabels(ds.classes), colLabels,
    caption: `${ds.name}: ${perClass} training and ${perClass} test images per class (rows). The test split reverses the shortcut.`,
  });
}

/** Short row/axis labels of a dataset's classes: "<index> <name>", cut to 14 characters. */
export function classLabels(classes: readonly string[]): string[] {
  return classes.map((c, y) => `${y} ${c}`.slice(0, 14));
}
