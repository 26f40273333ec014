import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { UserError } from '../lib/util/errors';
import {
  MAX_HYPERNYM_DEPTH, PAD_ID, UNK_ID, Vocabulary, WordNet, checkPromptWords, corpusVocabulary, describeMapping, mapUnknownWord, placeWords, tokenize, unknownWords,
} from '../lib/vlm/embedded';
import { TextEncoder } from '../lib/vlm/embedded/text-encoder';

test('tokenize lowercases, splits on non-letters and spells out lone digits', () => {
  assert.deepEqual(tokenize('A Red, handwritten SEVEN!'), ['a', 'red', 'handwritten', 'seven']);
  assert.deepEqual(tokenize('the number 7'), ['the', 'number', 'seven']);
  assert.deepEqual(tokenize('top-left   corner\n'), ['top', 'left', 'corner']);
  assert.deepEqual(tokenize('12 apples'), ['12', 'apples']);
  assert.deepEqual(tokenize('  ...  '), []);
});

test('unknown words WordNet cannot place map to UNK and are kept; the vocabulary covers the caption grammar', () => {
  const v = corpusVocabulary();
  assert.equal(v.words[PAD_ID], '<pad>');
  assert.equal(v.words[UNK_ID], '<unk>');
  for (const w of ['digit', 'number', 'square', 'patch', 'seven', 'handwritten', 'background', 'black', 'noise', 'corner', 'white']) {
    assert.ok(v.has(w), `vocabulary lacks '${w}'`);
  }
  assert.deepEqual(v.ids('a zebra'), [v.id('a'), UNK_ID]);
  assert.deepEqual(v.ids('a xylophone quux'), [v.id('a'), UNK_ID, UNK_ID]);
  assert.deepEqual(unknownWords(v, 'a zebra near a digit'), ['zebra']);
  const enc = v.encodeBatch(['a digit', 'xyzzy', ''], 4);
  assert.deepEqual([...enc], [v.id('a'), v.id('digit'), 0, 0, UNK_ID, 0, 0, 0, UNK_ID, 0, 0, 0]);
});

test('a vocabulary must start with PAD and UNK and have no duplicates', () => {
  assert.throws(() => new Vocabulary(['a', 'b']), /must start with/);
  assert.throws(() => new Vocabulary(['<pad>', '<unk>', 'a', 'a']), /duplicate/);
  const v = Vocabulary.fromTexts(['b a', 'a c']);
  assert.deepEqual(v.words, ['<pad>', '<unk>', 'a', 'b', 'c']);
});

/** A vocabulary of digits, garments and colours, as the corpus names them. */
const garments = Vocabulary.fromTexts(['a the digit number shoe boot clothing clothes dress garment bag coat trousers red blue square']);

test('open vocabulary: unknown words map to known ones by WordNet synonyms, then hypernyms', () => {
  const cases: [string, string, 'synonym' | 'hypernym' | 'kind'][] = [
    ['figure', 'digit', 'synonym'], // {digit, figure}: one of the elements of a system of numeration
    ['numeral', 'number', 'synonym'],
    ['crimson', 'red', 'synonym'], // adjective synset {crimson, red, reddish, ...}
    ['apparel', 'clothes', 'synonym'], // {apparel, wearing apparel, dress, clothes}: clothes' first sense, dress's second
    ['sneaker', 'shoe', 'hypernym'], // sneaker -> shoe
    ['sneakers', 'shoe', 'hypernym'], // plural by WordNet's noun suffix rules
    ['footwear', 'boot', 'kind'], // its kinds the vocabulary knows, boot and shoe, before its hypernym clothing
    ['jacket', 'coat', 'hypernym'],
    ['handbag', 'bag', 'synonym'],
    ['jeans', 'trousers', 'hypernym'],
    ['integer', 'digit', 'kind'], // {digit, figure} is a kind of integer
    ['navy', 'blue', 'hypernym'],
  ];
  for (const [word, to, via] of cases) {
    const m = garments.mapping(word);
    assert.ok(m, `${word} is not mapped`);
    assert.equal(m.to, to, word);
    assert.equal(m.via, via, word);
    assert.ok(m.depth <= MAX_HYPERNYM_DEPTH);
  }
  assert.equal(garments.mapping('boots')!.to, 'boot'); // a plural of a known word is that word
  // A link through a rare sense of both words does not count: "shape" and "frame" share only the third
  // sense of each ({human body, ..., figure, shape, frame}); "figure" still reaches "digit", digit's first sense.
  const framed = Vocabulary.fromTexts(['a frame digit']);
  assert.equal(framed.mapping('shape'), undefined);
  assert.equal(framed.mapping('figure')!.to, 'digit');
  for (const w of ['xylophone', 'zebra', 'quux', 'the', 'it', '12']) assert.equal(garments.mapping(w), undefined, w);
  // Ids of a mapped word are its target's; closed encoding (training) keeps UNK.
  assert.deepEqual(garments.ids('a sneaker'), [garments.id('a'), garments.id('shoe')]);
  assert.deepEqual(garments.ids('a sneaker', false), [garments.id('a'), UNK_ID]);
});

test('an unknown word is read as a blend of all the known words at the first step that has any, weighted by sense ranks', () => {
  const shapes = Vocabulary.fromTexts(['a the square box frame border margin rim outline edge corner clothes dress']);
  // Synonyms of several senses: {apparel, wearing apparel, dress, clothes} is sense 1 of clothes, sense 2 of dress.
  assert.deepEqual(shapes.mapping('apparel'), {
    word: 'apparel', to: 'clothes', via: 'synonym', depth: 0, blend: [{ word: 'clothes', weight: 0.75 }, { word: 'dress', weight: 0.25 }],
  });
  // No known synonym: the kinds of its senses (rectangle: {square} is square's first sense; box's sense is not).
  assert.deepEqual(shapes.mapping('rectangle'), { word: 'rectangle', to: 'square', via: 'kind', depth: 0 });
  // Kinds two steps down count half as much per step (quadrilateral -> parallelogram -> rectangle -> square is three).
  assert.equal(shapes.mapping('quadrilateral')!.to, 'square');
  // "boundary": no synonym through a first sense ({boundary, edge, bound} is a rarer sense of both), so its kinds.
  const b = shapes.mapping('boundary')!;
  assert.equal(b.via, 'kind');
  assert.deepEqual(b.blend!.map((x) => x.word).sort(), ['border', 'edge', 'margin', 'outline', 'rim']);
  assert.ok(Math.abs(b.blend!.reduce((a, x) => a + x.weight, 0) - 1) < 1e-12);
  // With the corpus's place words excluded (the grammar says "near the top edge", never "an edge"), boundary reads as its kinds.
  const placed = Vocabulary.fromTexts(['a the square box frame border margin rim outline edge corner clothes dress'], new Set(['edge', 'corner']));
  const pb = placed.mapping('boundary')!;
  assert.equal(pb.via, 'kind');
  assert.deepEqual(pb.blend!.map((x) => x.word).sort(), ['border', 'margin', 'outline', 'rim']);
  assert.ok(pb.blend!.every((x, i, a) => i === 0 || a[i - 1].weight >= x.weight), 'heaviest first');
  assert.ok(!pb.blend!.some((x) => x.word === 'edge'));
  // "periphery" climbs to {boundary, edge, bound}: edge is a place word, so the hypernym's kinds rim, margin, border.
  const pp = placed.mapping('periphery')!;
  assert.equal(pp.via, 'kind');
  assert.equal(pp.depth, 1);
  assert.ok(pp.blend!.every((x) => ['rim', 'margin', 'border'].includes(x.word)), JSON.stringify(pp));
  // A plural of a place word is not read as it either.
  assert.notEqual(placed.mapping('edges')?.to, 'edge');
  assert.equal(shapes.mapping('edges')!.to, 'edge');
  // How the reading is reported.
  assert.equal(describeMapping(shapes.mapping('rectangle')!), '"rectangle" as "square" (WordNet kind of it)');
  assert.equal(describeMapping(shapes.mapping('apparel')!), '"apparel" as "clothes" 75 % + "dress" 25 % (WordNet synonyms)');
  assert.match(describeMapping(pp), /^"periphery" as "(rim|margin|border)" \d+ % \+ .* \(WordNet kinds of its hypernym, 1 up\)$/);
});

test('the place words of the corpus are the words of its position phrases that never name a thing', () => {
  const p = placeWords();
  for (const w of ['edge', 'corner', 'top', 'left', 'middle']) assert.ok(p.has(w), w);
  for (const w of ['border', 'frame', 'square', 'digit', 'the', 'near', 'background']) assert.ok(!p.has(w), w);
  // The corpus vocabulary carries them: "verge" (an edge in WordNet) is not read as "edge".
  assert.notEqual(corpusVocabulary({ frameProbability: 0.3 }).mapping('verge')?.to, 'edge');
});

test('a blended word enters the bag of words as the weighted mean of its known words', () => {
  const shapes = Vocabulary.fromTexts(['a the square box frame border margin rim outline clothes dress']);
  const V = shapes.size, maxLen = 4;
  const [row] = [TextEncoder.bagRows(shapes, ['an apparel'], maxLen)];
  // "an" is unknown (UNK, a function word is never looked up), "apparel" = 0.75 clothes + 0.25 dress; each word has 1/2.
  const want = new Float32Array(V);
  want[UNK_ID] = 0.5;
  want[shapes.id('clothes')] = 0.375;
  want[shapes.id('dress')] = 0.125;
  assert.deepEqual([...row], [...want]);
  // Known words and words read as one word keep the plain bag of their ids.
  const texts = ['a square', 'a rectangle', 'a xylophone', ''];
  assert.deepEqual([...TextEncoder.bagRows(shapes, texts, maxLen)], [...TextEncoder.bagOfWords(shapes.encodeBatch(texts, maxLen), texts.length, maxLen, V)]);
  assert.deepEqual(shapes.blends('a square rectangle apparel'), [null, null, null, [{ id: shapes.id('clothes'), weight: 0.75 }, { id: shapes.id('dress'), weight: 0.25 }]]);
});

test('the mapping is deterministic and the same from a fresh reader', () => {
  const known = (w: string) => garments.has(w);
  const a = new WordNet(), b = new WordNet();
  for (const w of ['figure', 'apparel', 'footwear', 'sweater', 'scarlet', 'violin']) assert.deepEqual(mapUnknownWord(w, known, a), mapUnknownWord(w, known, b), w);
  a.close();
  b.close();
});

test('a prompt reading says which words were known, mapped and unknown; none known is an error', () => {
  const r = garments.read('a sneaker near a xylophone');
  assert.deepEqual(r.known, ['a']);
  assert.deepEqual(r.mapped.map((m) => [m.word, m.to]), [['sneaker', 'shoe']]);
  assert.deepEqual(r.unknown, ['near', 'xylophone']);
  const lines: string[] = [];
  checkPromptWords(garments, 'a sneaker near a xylophone', [], { warn: (m) => lines.push(m) });
  assert.equal(lines.length, 1);
  assert.match(lines[0], /^prompt "a sneaker near a xylophone": read "sneaker" as "shoe" \(WordNet hypernym, 1 up\); the embedded VLM does not know "near", "xylophone" \(read as <unk>\)$/);
  checkPromptWords(garments, 'a digit', ['the background'], { warn: (m) => lines.push(m) });
  assert.equal(lines.length, 2); // the background's unknown word is reported, the all-known prompt is not
  assert.match(lines[1], /^background prompt "the background": the embedded VLM does not know "background"/);
  // "figure" alone is enough: it maps to a known word.
  checkPromptWords(garments, 'figure', [], { warn: (m) => lines.push(m) });
  assert.throws(() => checkPromptWords(garments, 'xylophone quux', []), (e: unknown) => e instanceof UserError && /has no word the embedded VLM knows \(unknown: xylophone, quux\)/.test(e.message));
});

test('WordNet is read only when a prompt has an unknown word', () => {
  // With the WordNet files pointed somewhere empty, known words still work; the first unknown one fails clearly.
  const code = `const { corpusVocabulary } = require('./lib/vlm/embedded/corpus');
const v = corpusVocabulary();
console.log(JSON.stringify(v.read('a white digit on a black background')));
try { v.read('a figure'); } catch (e) { console.log(e.name + ': ' + e.message); }`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', code], {
    cwd: path.join(__dirname, '..'), encoding: 'utf8', env: { ...process.env, LTL_WORDNET_DIR: path.join(__dirname, 'no-such-wordnet') },
  });
  assert.equal(r.status, 0, r.stderr);
  const [first, second] = r.stdout.trim().split('\n');
  assert.deepEqual(JSON.parse(first).unknown, []);
  assert.match(second, /^UserError: WordNet file .*no-such-wordnet\/index\.noun is missing/);
});
