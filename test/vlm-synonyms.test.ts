import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../lib/backend';
import { loadDataset } from '../lib/data';
import { CORPUS_BROAD, corpusVocabulary, defaultCheckpointDir, loadCheckpoint, tokenize } from '../lib/vlm/embedded';
import { evaluateBroad, evaluateVlm, plainSplit } from '../lib/evaluate/vlm-gates';
import { describeWordReading, evaluateSynonyms } from '../lib/evaluate/vlm-synonym-report';
import { SYNONYM_CONCEPTS, SYNONYM_TOLERANCE, heldOutEntries } from '../lib/evaluate/vlm-synonyms';
import { loadFashionMnist } from '../lib/data/bases/fashion-mnist';

test('the synonym list is held out from the corpus: every entry has a word the grammar never uses', () => {
  const vocab = corpusVocabulary(CORPUS_BROAD);
  const seen = new Set<string>();
  for (const c of SYNONYM_CONCEPTS) {
    assert.ok(tokenize(c.prompt).every((w) => vocab.has(w)), `${c.prompt} is the concept's own (known) word`);
    assert.ok(c.synonyms.length >= 5 && c.secondList.length >= 5 && c.thirdList.length >= 5, c.concept);
    for (const { prompt: s } of heldOutEntries(c)) {
      assert.ok(tokenize(s).some((w) => !vocab.has(w)), `${JSON.stringify(s)} is made of corpus words only`);
      assert.ok(!seen.has(s), `${s} listed twice`);
      seen.add(s);
    }
  }
});

test('the synonym report measures each concept word and its synonyms on the gate images and masks (5 test images)', async () => {
  await initBackend();
  const vlm = loadCheckpoint(defaultCheckpointDir());
  try {
    const decoymnist = loadDataset('decoymnist').test, hard = loadDataset('decoymnist-hard').test, fashionFrame = loadDataset('decoyfashion-hard').test;
    const r = evaluateSynonyms(vlm, { decoymnist, 'decoymnist-hard': hard, 'decoyfashion-hard': fashionFrame }, { limit: 5, lists: [1, 2, 3] });
    assert.deepEqual(r.concepts.map((c) => c.concept), SYNONYM_CONCEPTS.map((c) => c.concept));
    assert.equal(r.tolerance, SYNONYM_TOLERANCE);
    const entries = SYNONYM_CONCEPTS.flatMap((c) => heldOutEntries(c));
    assert.equal(r.measured, entries.length);
    assert.deepEqual(r.lists.map((l) => [l.list, l.measured]), [1, 2, 3].map((k) => [k, entries.filter((e) => e.list === k).length]));
    assert.equal(r.lists.reduce((a, l) => a + l.within, 0), r.within);
    assert.equal(r.within, r.concepts.flatMap((c) => c.synonyms).filter((s) => s.within).length);
    for (const c of r.concepts) {
      assert.equal(c.images, 5);
      const listed = heldOutEntries(SYNONYM_CONCEPTS.find((x) => x.concept === c.concept)!);
      assert.deepEqual(c.synonyms.map((s) => [s.prompt, s.list]), listed.map((e) => [e.prompt, e.list]));
      for (const s of c.synonyms) {
        assert.ok(s.mass >= 0 && s.mass <= 1, `${s.prompt}: ${s.mass}`);
        assert.equal(s.gap, c.mass - s.mass);
        assert.equal(s.within, s.gap <= SYNONYM_TOLERANCE);
        assert.equal(s.reading, describeWordReading(vlm.vocab, s.prompt));
      }
    }
    // The concept words' masses are the gates' figures on the same images.
    const e = evaluateVlm(vlm, decoymnist, { limit: 5 });
    const b = evaluateBroad(vlm, { decoyHard: hard, fashion: plainSplit(loadFashionMnist().test), fashionFrame }, { limit: 5 });
    const mass = (k: string) => r.concepts.find((c) => c.concept === k)!.mass;
    assert.equal(mass('digit'), e.digitPromptDigitMass);
    assert.equal(mass('square'), e.squarePromptPatchMass);
    assert.equal(mass('frame'), b.framePromptFrameMass);
    assert.equal(mass('clothing'), b.garmentPromptObjectMass);
    // By default the third list waits (lib/evaluate/vlm-synonyms.ts).
    const byDefault = evaluateSynonyms(vlm, { decoymnist }, { limit: 1 });
    assert.deepEqual(byDefault.lists.map((l) => l.list), [1, 2]);
    // Without the broad sets, only the DecoyMNIST concepts.
    const narrow = evaluateSynonyms(vlm, { decoymnist }, { limit: 2, concepts: SYNONYM_CONCEPTS.map((c) => ({ ...c, synonyms: c.synonyms.slice(0, 1), secondList: [], thirdList: [] })) });
    assert.deepEqual(narrow.concepts.map((c) => c.concept), ['digit', 'square']);
    assert.equal(narrow.measured, 2);
  } finally {
    vlm.model.dispose();
  }
});

test('a reading says what each unknown word of a prompt stands for', () => {
  const vocab = corpusVocabulary(CORPUS_BROAD);
  assert.equal(describeWordReading(vocab, 'a digit'), '');
  assert.equal(describeWordReading(vocab, 'a rectangle near a xylophone'), 'rectangle -> square; xylophone -> <unk>');
  assert.match(describeWordReading(vocab, 'a boundary'), /^boundary -> (border|outline|rim|margin) 0\.\d\d( \+ (border|outline|rim|margin) 0\.\d\d){3}$/);
});
