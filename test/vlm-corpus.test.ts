import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { loadMnist, loadFashionMnist, DIGIT_NAMES, FASHION_CLASSES } from '../lib/data';
import { createRng } from '../lib/util/rng';
import {
  CAT_DIGIT, CAT_FRAME, CAT_SQUARE, CORPUS_BROAD, FASHION_GENERIC, FASHION_NAMES, FRAME_NOUNS, PALETTE, SHAPE_NOUNS, classCaptions, classIndex,
  corpusVocabulary, makeScene, sceneCategories, tokenize,
} from '../lib/vlm/embedded';

const digits = loadMnist().train;
const fashion = loadFashionMnist().train;
const broadSources = { digits, fashion };

test('the digit corpus draws what it always drew (checkpoint v1 still trains bit for bit)', () => {
  // SHA-256 of the first 50 scenes of seed 3 as the digit-only corpus drew them before the broad corpus existed.
  const rng = createRng(3);
  const h = createHash('sha256');
  for (let i = 0; i < 50; i++) {
    const s = makeScene(digits, rng);
    assert.equal(s.phrases.frame, '');
    h.update(s.image); h.update(s.category); h.update(s.caption); h.update(JSON.stringify({ ...s.phrases, frame: undefined }));
  }
  assert.equal(h.digest('hex'), 'fc581d17c37bd89bc52757f297c349fbe09f29693b2c824905776ff10ea1cc81');
  assert.equal(sceneCategories().length, 5);
  assert.equal(classCaptions(createRng(1)).length, 10);
});

test('broad corpus: Fashion-MNIST items named by class and category, frames drawn where the categories say', () => {
  const rng = createRng(12);
  const vocab = corpusVocabulary(CORPUS_BROAD);
  let items = 0, frames = 0, classNamed = 0, genericNamed = 0;
  for (let i = 0; i < 600; i++) {
    const s = makeScene(broadSources, rng, CORPUS_BROAD);
    for (const w of tokenize(`${s.caption} ${Object.values(s.phrases).join(' ')}`)) assert.ok(vocab.has(w), `'${w}' is not in the broad vocabulary (${s.caption})`);
    const words = tokenize(s.caption);
    if (s.kind === 'fashion') {
      items++;
      // A Fashion class name in a caption is the item's own (multi-word names by all their words).
      for (let c = 0; c < 10; c++) {
        if (c === s.label) continue;
        const other = FASHION_NAMES[c].filter((n) => !FASHION_NAMES[s.label].some((m) => tokenize(m).includes(n)) && !n.includes(' ') && !n.includes('-'));
        for (const n of other) assert.ok(!words.includes(n) || n === 'shirt', `${s.caption} names ${n} but shows ${FASHION_CLASSES[s.label]}`);
      }
      if (FASHION_NAMES[s.label].some((n) => tokenize(n).every((w) => words.includes(w)))) classNamed++;
      if (FASHION_GENERIC.some((n) => words.includes(n.split(' ')[0]))) genericNamed++;
      for (const d of DIGIT_NAMES) assert.ok(!words.includes(d) || ['one', 'two', 'three'].includes(d), `${s.caption}: a digit name on an item`);
    }
    if (s.frame) {
      frames++;
      const { width, inset } = s.frame;
      // The frame's ring is CAT_FRAME except where a distractor was drawn over it.
      for (let r = 0; r < 28; r++) for (let c = 0; c < 28; c++) {
        const ring = Math.min(r, c, 27 - r, 27 - c);
        const cat = s.category[r * 28 + c];
        if (ring >= inset && ring < inset + width) assert.ok(cat === CAT_FRAME || cat >= CAT_SQUARE, `frame pixel ${r},${c} is ${cat}`);
        else assert.notEqual(cat, CAT_FRAME);
      }
      assert.ok(FRAME_NOUNS.some((n) => tokenize(s.phrases.frame).includes(n)));
    } else assert.ok(!s.category.includes(CAT_FRAME));
    assert.ok(s.category.some((c) => c === CAT_DIGIT));
    assert.equal(classIndex(s), s.kind === 'fashion' ? 10 + s.label : s.label);
  }
  assert.ok(items > 220 && items < 320, `${items} of 600 scenes hold a Fashion item`);
  assert.ok(frames > 130 && frames < 230, `${frames} of 600 scenes have a frame`);
  assert.ok(classNamed > items * 0.3 && genericNamed > items * 0.1, `class named ${classNamed}, category ${genericNamed} of ${items}`);
  assert.equal(sceneCategories(CORPUS_BROAD).length, 6);
  assert.deepEqual(classCaptions(createRng(1), true).slice(10).map((c) => c.replace(/^(a|an|the) /, '')), [...FASHION_CLASSES]);
});

test('broad corpus: object colour, background and frame are independent of the item class (chi-square)', () => {
  const rng = createRng(31);
  const n = 8000;
  const tables = { colour: new Map<string, number[]>(), background: new Map<string, number[]>(), frame: new Map<string, number[]>(), kind: new Map<string, number[]>() };
  const add = (t: Map<string, number[]>, key: string, label: number) => {
    if (!t.has(key)) t.set(key, new Array(20).fill(0));
    t.get(key)![label]++;
  };
  for (let i = 0; i < n; i++) {
    const s = makeScene(broadSources, rng, CORPUS_BROAD);
    const y = classIndex(s);
    add(tables.colour, s.colour, y);
    add(tables.background, s.background, y);
    add(tables.frame, s.frame ? `w${s.frame.width}` : 'none', y);
  }
  for (const [name, t] of Object.entries(tables)) {
    if (!t.size) continue;
    // Within each object kind (digits 0-9, items 10-19): the kind's share is the corpus's fashionShare, by design.
    for (const lo of [0, 10]) {
      const rows = [...t.values()].map((r) => r.slice(lo, lo + 10));
      const colSum = new Array(10).fill(0);
      for (const r of rows) r.forEach((v, j) => (colSum[j] += v));
      const total = colSum.reduce((a, b) => a + b, 0);
      let chi = 0;
      for (const r of rows) {
        const rs = r.reduce((a, b) => a + b, 0);
        r.forEach((v, j) => { const e = (rs * colSum[j]) / total; chi += e > 0 ? (v - e) ** 2 / e : 0; });
      }
      const df = (rows.length - 1) * 9;
      const z = 3.09, crit = df * (1 - 2 / (9 * df) + z * Math.sqrt(2 / (9 * df))) ** 3;
      assert.ok(chi < crit, `${name} depends on the ${lo ? 'item' : 'digit'} class: chi2 ${chi.toFixed(1)} >= ${crit.toFixed(1)} (df ${df})`);
    }
  }
});

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
