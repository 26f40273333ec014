import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { resolveConfig } from '../lib/train/config';
import { loadDataset, registerBaseSet, registerShortcut, registerDataset, DEBIAN_FASHION_DIR, type ShortcutRule } from '../lib';

test('a user adds a base set and a shortcut rule without editing the core', () => {
  const n = 200;
  const images = new Uint8Array(n * 16);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) { labels[i] = i % 2; images.fill(100 + labels[i], i * 16, (i + 1) * 16); }
  registerBaseSet('toy', () => ({
    name: 'toy', classes: ['a', 'b'],
    train: { count: n, height: 4, width: 4, images, labels },
    test: { count: 20, height: 4, width: 4, images: images.slice(0, 320), labels: labels.slice(0, 20) },
  }));
  const stripe: ShortcutRule = {
    name: 'stripe', channels: 1, spatial: true,
    apply({ gray, width, label, reversed, out, shortcutMask }) {
      out.set(gray);
      const row = (label === 1) !== reversed ? 0 : 3;
      for (let c = 0; c < width; c++) { out[row * width + c] = 255; if (shortcutMask) shortcutMask[row * width + c] = 1; }
    },
  };
  registerShortcut(stripe);
  registerDataset('toystripe', 'toy', 'stripe');
  for (const name of ['toystripe', 'toy+stripe']) {
    const ds = loadDataset(name, { valSize: 40 });
    assert.equal(ds.train.count, 160);
    assert.equal(ds.val.count, 40);
    const i = ds.test.labels.indexOf(1);
    assert.equal(ds.test.images[i * 16 + 3 * 4], 255, 'reversed rule on test: label 1 gets the bottom stripe');
    assert.equal(ds.test.shortcutMasks![i * 16 + 12], 1);
  }
  assert.throws(() => loadDataset('toy+nothing'), /unknown dataset 'toy\+nothing'/);
  // RRR's default mask mode follows the rule, not the name: a spatial rule gets the spatial mask,
  // a rule that only recolours gets the colour mode
  assert.equal(resolveConfig({ dataset: 'toystripe', method: 'rrr' }).rrrMode, 'spatial');
  registerShortcut({ name: 'tint', channels: 3, spatial: false, apply({ gray, out }) { for (let p = 0; p < gray.length; p++) out.fill(gray[p], 3 * p, 3 * p + 3); } });
  registerDataset('toytint', 'toy', 'tint');
  assert.equal(resolveConfig({ dataset: 'toytint', method: 'rrr' }).rrrMode, 'colour');
});

test('the on-disk cache returns the same dataset and ignores a corrupt file', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ltl-cache-'));
  const a = loadDataset('decoymnist', { cacheDir: dir });
  const files = fs.readdirSync(dir);
  assert.equal(files.length, 1);
  const b = loadDataset('decoymnist', { cacheDir: dir });
  assert.equal(b.checksum, a.checksum);
  assert.deepEqual(b.test.shortcutMasks!.subarray(0, 784 * 3), a.test.shortcutMasks!.subarray(0, 784 * 3));
  assert.deepEqual(b.val.sourceIndex, a.val.sourceIndex);
  const f = path.join(dir, files[0]);
  const buf = fs.readFileSync(f);
  buf[buf.length - 10] ^= 0xff;
  fs.writeFileSync(f, buf);
  const c = loadDataset('decoymnist', { cacheDir: dir });
  assert.equal(c.checksum, a.checksum, 'a corrupt cache is rebuilt, not trusted');
});

test('Fashion-MNIST from Debian gets the same shortcut rules', { skip: !fs.existsSync(DEBIAN_FASHION_DIR) && 'dataset-fashion-mnist not installed' }, () => {
  const ds = loadDataset('decoyfashion');
  assert.equal(ds.train.count + ds.val.count, 60000);
  assert.equal(ds.test.count, 10000);
  assert.equal(ds.classes[9], 'ankle boot');
});
