import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadMnist, DIGIT_NAMES } from '../lib/data';
import { createRng } from '../lib/util/rng';
import { CAT_DIGIT, CAT_SQUARE, PALETTE, SHAPE_NOUNS, corpusVocabulary, makeScene, tokenize } from '../lib/maps/embedded';

const digits = loadMnist().train;

test('scenes are seeded: the same seed gives the same scenes and captions', () => {
  const a = createRng(3), b = createRng(3);
  for (let i = 0; i < 20; i++) {
    const x = makeScene(digits, a), y = makeScene(digits, b);
    assert.equal(x.caption, y.caption);
    assert.deepEqual(x.image, y.image);
    assert.deepEqual(x.phrases, y.phrases);
  }
});

test('captions mention what is in the scene, with grammar words only', () => {
  const rng = createRng(11);
  const vocab = corpusVocabulary();
  const shapeWords = new Set(Object.values(SHAPE_NOUNS).flat());
  let named = 0, withShape = 0, shapeMentioned = 0;
  for (let i = 0; i < 400; i++) {
    const s = makeScene(digits, rng);
    const words = tokenize(s.caption);
    assert.ok(words.length > 0);
    for (const w of words) assert.ok(vocab.has(w) || w.endsWith('s'), `caption word '${w}' is not in the vocabulary (${s.caption})`);
    // A digit name in a caption is always the scene's own digit.
    for (let d = 0; d < 10; d++) if (d !== s.label && words.includes(DIGIT_NAMES[d])) {
      // 'one' also counts shapes ("one square"): allowed only before a shape noun
      assert.ok(DIGIT_NAMES[d] === 'one' || DIGIT_NAMES[d] === 'two' || DIGIT_NAMES[d] === 'three', `${s.caption} names digit ${d} but shows ${s.label}`);
    }
    if (words.includes(DIGIT_NAMES[s.label])) named++;
    // A colour word in a caption is the digit's colour (shapes are only grey/white).
    for (const c of PALETTE) if (words.includes(c.name) && !['grey', 'white'].includes(c.name)) assert.equal(c.name, s.colour, s.caption);
    // Shapes named are shapes drawn.
    for (const w of words) {
      const stem = w.replace(/s$/, '');
      if (shapeWords.has(stem)) {
        const kind = (Object.keys(SHAPE_NOUNS) as (keyof typeof SHAPE_NOUNS)[]).find((k) => SHAPE_NOUNS[k].includes(stem))!;
        assert.ok(s.distractors.some((d) => d.kind === kind), `${s.caption}: no ${kind} in the scene`);
      }
    }
    if (s.distractors.length) {
      withShape++;
      if (words.some((w) => shapeWords.has(w.replace(/s$/, '')))) shapeMentioned++;
    }
    // Pixel categories agree with the drawing: squares are where the caption geometry says.
    for (const d of s.distractors.filter((q) => q.kind === 'square')) {
      assert.ok(s.category.some((c) => c === CAT_SQUARE));
      assert.ok(d.row >= 0 && d.row + d.height <= 28 && d.col >= 0 && d.col + d.width <= 28);
    }
    assert.ok(s.category.some((c) => c === CAT_DIGIT));
  }
  assert.ok(named / 400 > 0.5, `digit named in ${named} of 400 captions`);
  assert.ok(shapeMentioned / withShape > 0.5, `shapes mentioned in ${shapeMentioned} of ${withShape} captions`);
});

test('digit colour, background and distractors are independent of the label (chi-square)', () => {
  const rng = createRng(21);
  const n = 6000;
  const tables = { colour: new Map<string, number[]>(), background: new Map<string, number[]>(), squares: new Map<string, number[]>() };
  const add = (t: Map<string, number[]>, key: string, label: number) => {
    if (!t.has(key)) t.set(key, new Array(10).fill(0));
    t.get(key)![label]++;
  };
  for (let i = 0; i < n; i++) {
    const s = makeScene(digits, rng);
    add(tables.colour, s.colour, s.label);
    add(tables.background, s.background, s.label);
    add(tables.squares, String(s.distractors.filter((d) => d.kind === 'square').length), s.label);
  }
  for (const [name, t] of Object.entries(tables)) {
    const rows = [...t.values()];
    const colSum = new Array(10).fill(0);
    for (const r of rows) r.forEach((v, j) => (colSum[j] += v));
    let chi = 0;
    for (const r of rows) {
      const rs = r.reduce((a, b) => a + b, 0);
      r.forEach((v, j) => { const e = (rs * colSum[j]) / n; chi += e > 0 ? (v - e) ** 2 / e : 0; });
    }
    const df = (rows.length - 1) * 9;
    // 99.9th percentile of chi-square with df degrees of freedom (Wilson-Hilferty approximation).
    const z = 3.09, crit = df * (1 - 2 / (9 * df) + z * Math.sqrt(2 / (9 * df))) ** 3;
    assert.ok(chi < crit, `${name} depends on the label: chi2 ${chi.toFixed(1)} >= ${crit.toFixed(1)} (df ${df})`);
  }
  assert.ok(tables.colour.size >= 10, 'the palette is wide');
});
