import type { ShortcutRule } from '../types';
import { decoyIntensity } from './decoy';

/**
 * DecoyMNIST-hard: the DecoyMNIST intensity code (train 255 - 25 y, test 25 y) painted on a frame
 * FRAME_WIDTH pixels wide along the whole image border instead of a 5x5 corner patch.
 *
 * Why a frame: LeNet-GAP averages its features over space, so a shortcut bites only if it covers
 * enough area to move the average; the 25-pixel corner patch barely does (vanilla ~97 % on test),
 * the 208-pixel frame does (vanilla ~27 % on test, see docs/findings.md). Position cannot encode the
 * label for this net: convolutions without padding plus global pooling are blind to where a patch is.
 * MNIST digits sit in the central 20x20 box, so the frame rarely covers digit pixels; where it does,
 * the frame wins. The rule draws no random numbers (the frame has one place).
 */
export const FRAME_WIDTH = 2;

export const decoyFrameRule: ShortcutRule = {
  name: 'decoy-frame',
  channels: 1,
  spatial: true,
  apply({ gray, height, width, label, reversed, out, shortcutMask }) {
    out.set(gray);
    const v = decoyIntensity(label, reversed);
    for (let r = 0; r < height; r++) {
      const edgeRow = r < FRAME_WIDTH || r >= height - FRAME_WIDTH;
      for (let c = 0; c < width; c++) {
        if (!edgeRow && c >= FRAME_WIDTH && c < width - FRAME_WIDTH) continue;
        out[r * width + c] = v;
        if (shortcutMask) shortcutMask[r * width + c] = 1;
      }
    }
  },
};
