import { Jimp } from 'jimp';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { namingFile } from './errors';

/**
 * Encodes a uint8 image (HWC, 1 or 3 channels) as PNG. Grey images are written as grey PNGs so
 * that a reader gets back exactly the bytes it was given.
 */
export async function encodePng(pixels: Uint8Array, width: number, height: number, channels: 1 | 3 | 4): Promise<Buffer> {
  const rgba = Buffer.alloc(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    const r = pixels[i * channels];
    const g = channels === 1 ? r : pixels[i * channels + 1];
    const b = channels === 1 ? r : pixels[i * channels + 2];
    rgba[4 * i] = r; rgba[4 * i + 1] = g; rgba[4 * i + 2] = b;
    rgba[4 * i + 3] = channels === 4 ? pixels[i * 4 + 3] : 255;
  }
  const img = new Jimp({ data: rgba, width, height });
  // colorType 0 = greyscale, 2 = truecolour (no alpha): the smallest faithful encoding.
  const colorType = channels === 1 ? 0 : channels === 3 ? 2 : 6;
  return img.getBuffer('image/png', { colorType } as any);
}

export async function writePng(file: string, pixels: Uint8Array, width: number, height: number, channels: 1 | 3 | 4): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const png = await encodePng(pixels, width, height, channels);
  try {
    namingFile(file, () => fs.writeFileSync(file, png));
  } catch (e) {
    try { fs.rmSync(file, { force: true }); } catch { /* e.g. a folder of that name: nothing of ours to remove */ } // no torn PNG left
    throw e;
  }
}

/** Decodes a PNG into RGBA bytes (used by tests and to read exported images back). */
export async function decodePng(file: string): Promise<{ width: number; height: number; rgba: Uint8Array }> {
  const img = await Jimp.read(file);
  return { width: img.bitmap.width, height: img.bitmap.height, rgba: new Uint8Array(img.bitmap.data) };
}
