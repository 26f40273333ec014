import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../lib/backend';
import { loadFashionMnist, loadMnist, DIGIT_NAMES } from '../lib/data';
import { createRng } from '../lib/util/rng';
import { CORPUS_BROAD, FASHION_NAMES, defaultCheckpointDir, grammarTexts, loadCheckpoint, makeScene, tokenize } from '../lib/vlm/embedded';
import { TextEncoder } from '../lib/vlm/embedded/text-encoder';

/**
 * The open-vocabulary text side may change how words the VLM was not taught are read, never a prompt made
 * only of words it knows: the language study runs on the committed checkpoint, and its maps must not move.
 */

/** Gate, study, zero-shot and background prompts, and every text of the caption grammar: known words only. */
function knownPrompts(): string[] {
  return [
    'a digit', 'a square', 'a frame', 'the border', 'clothing', 'a number', 'a handwritten digit', 'writing', 'a bar',
    'background', 'black', 'dark', 'nothing', 'noise', 'grey',
    ...DIGIT_NAMES.map((d) => `a handwritten ${d}`), ...FASHION_NAMES.map((n) => `a ${n[0]}`),
    ...grammarTexts(true),
  ];
}

const sha = (a: Float32Array) => createHash('sha256').update(Buffer.from(a.buffer, a.byteOffset, a.byteLength)).digest('hex');

test('known-word prompts: bag-of-words rows bit for bit as before the blended reading of unknown words', () => {
  const { vocab, model } = loadCheckpoint(defaultCheckpointDir());
  model.dispose();
  const prompts = knownPrompts();
  for (const p of prompts) for (const w of tokenize(p)) assert.ok(vocab.has(w), `${w} (${p})`);
  const rows = TextEncoder.bagRows(vocab, prompts, model.config.maxLen);
  // SHA-256 of these 205 rows (maxLen 24) as the code before blends computed them (vocab.encodeBatch ->
  // TextEncoder.bagOfWords, commit b0b5230), with the committed vocabulary.
  assert.equal(prompts.length, 205);
  assert.equal(sha(rows), '8c7a524110f0017274fd9651dc21094facd38d95fda777d1c34524fa941cef4a');
});

test('known-word prompts: rows and text embeddings equal those of the plain token ids, on corpus captions too', async () => {
  await initBackend();
  const { vocab, model } = loadCheckpoint(defaultCheckpointDir());
  try {
    // Captions and phrases the corpus draws (a seeded sample), plus the fixed prompts.
    const rng = createRng(27);
    const sources = { digits: loadMnist().train, fashion: loadFashionMnist().train };
    const texts = knownPrompts();
    for (let i = 0; i < 100; i++) {
      const s = makeScene(sources, rng, CORPUS_BROAD);
      texts.push(s.caption, ...Object.values(s.phrases).filter(Boolean));
    }
    const maxLen = model.config.maxLen;
    // Closed encoding never consults WordNet: each word is its own id (all are known here).
    const plain = TextEncoder.bagOfWords(vocab.encodeBatch(texts, maxLen, false), texts.length, maxLen, vocab.size);
    const rows = TextEncoder.bagRows(vocab, texts, maxLen);
    assert.equal(sha(rows), sha(plain));
    const [a, b] = tf.tidy(() => [
      model.encodeTexts(TextEncoder.bagOfTexts(vocab, texts, maxLen)).dataSync() as Float32Array,
      model.encodeTexts(tf.tensor2d(plain, [texts.length, vocab.size])).dataSync() as Float32Array,
    ]);
    assert.equal(sha(a), sha(b));
    // The test can fail: a prompt with a blended word has a different row.
    const blended = TextEncoder.bagRows(vocab, ['a boundary'], maxLen);
    const single = TextEncoder.bagOfWords(vocab.encodeBatch(['a boundary'], maxLen), 1, maxLen, vocab.size);
    assert.notEqual(sha(blended), sha(single));
  } finally {
    model.dispose();
  }
});
