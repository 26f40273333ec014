import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PAD_ID, UNK_ID, Vocabulary, corpusVocabulary, tokenize, unknownWords } from '../lib/maps/embedded';

test('tokenize lowercases, splits on non-letters and spells out lone digits', () => {
  assert.deepEqual(tokenize('A Red, handwritten SEVEN!'), ['a', 'red', 'handwritten', 'seven']);
  assert.deepEqual(tokenize('the number 7'), ['the', 'number', 'seven']);
  assert.deepEqual(tokenize('top-left   corner\n'), ['top', 'left', 'corner']);
  assert.deepEqual(tokenize('12 apples'), ['12', 'apples']);
  assert.deepEqual(tokenize('  ...  '), []);
});

test('unknown words map to UNK and are kept; the vocabulary covers the caption grammar', () => {
  const v = corpusVocabulary();
  assert.equal(v.words[PAD_ID], '<pad>');
  assert.equal(v.words[UNK_ID], '<unk>');
  for (const w of ['digit', 'number', 'square', 'patch', 'seven', 'handwritten', 'background', 'black', 'noise', 'corner', 'white']) {
    assert.ok(v.has(w), `vocabulary lacks '${w}'`);
  }
  assert.deepEqual(v.ids('a zebra'), [v.id('a'), UNK_ID]);
  assert.deepEqual(unknownWords(v, 'an object near a zebra'), ['object', 'zebra']);
  const enc = v.encodeBatch(['a digit', 'xyzzy', ''], 4);
  assert.deepEqual([...enc], [v.id('a'), v.id('digit'), 0, 0, UNK_ID, 0, 0, 0, UNK_ID, 0, 0, 0]);
});

test('a vocabulary must start with PAD and UNK and have no duplicates', () => {
  assert.throws(() => new Vocabulary(['a', 'b']), /must start with/);
  assert.throws(() => new Vocabulary(['<pad>', '<unk>', 'a', 'a']), /duplicate/);
  const v = Vocabulary.fromTexts(['b a', 'a c']);
  assert.deepEqual(v.words, ['<pad>', '<unk>', 'a', 'b', 'c']);
});
