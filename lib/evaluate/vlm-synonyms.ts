/**
 * Held-out synonyms and paraphrases of the concepts the embedded VLM was taught (issue 27, item 2), for
 * `ltl vlm eval`'s synonym report: each one's map mass on its concept's region, next to the concept's own word.
 *
 * How the list was made: written by hand from the meaning of each concept (a thesaurus-style reading of
 * "digit", "clothing", "frame" and "square" as the test images show them), committed BEFORE any of them
 * was measured, and never edited to suit a measurement (no word was dropped or added after measuring).
 * Every entry has at least one word the corpus never uses (test/vlm-synonyms.test.ts checks this against
 * the grammar's vocabulary), so the list is held out from the corpus; phrases made only of corpus words
 * ("a numeral", "apparel", "a border", "a box") are the corpus's own synonyms and are left out. Plurals of
 * corpus words ("digits", "garments") are kept on purpose: they are words the corpus never writes.
 * The list is a test: no rule of the text side may name one of its words.
 *
 * A second list (`secondList`), written the same way on 2026-12-07 and committed before any of its entries was
 * measured: after the first list had been measured, its misses seen and a rule designed with them in view, the first
 * list no longer measures a rule written after it. The second list is what such a rule is measured on. It shares no
 * entry with the first; before committing, entries made of corpus words only ("a number", "clothes", "a rim", "a
 * block") were dropped by the same structural rule, and "a frame around the digit" because it names a second concept
 * (the digit) as well; nothing was dropped or added after measuring. ("vesture" had been on the informal development
 * list of the first reading, docs/embedded-vlm.md; noticed after measuring, and left in.)
 *
 * A third list (`thirdList`), written the same way on 2026-12-07 after both readings had been measured on the first two
 * lists, and committed before any of its entries was measured: the first two are then development lists for the next
 * reading, and this one is what it is measured on. It shares no word with the earlier lists' untaught words or with the
 * earlier development list; before committing, entries of corpus words only, entries whose untaught word an earlier
 * list has ("a number glyph", "a numeric figure"), a near repeat ("a square marker") and entries that are no synonym
 * ("a blob", "a hem") were dropped. It is not measured by default (SYNONYM_LISTS_MEASURED): once a reading measured
 * on it has been seen, it is spent like the others, so it waits for the next reading (`ltl vlm eval --synonym-lists
 * 1,2,3`).
 */

/** Which test images a concept is measured on, and which of their masks is the concept's region. */
export interface SynonymConcept {
  /** The concept's own word, as its gate prompts it. */
  concept: string;
  prompt: string;
  /** The dataset whose images and masks the concept's gate uses (test split unless asked otherwise). */
  dataset: 'decoymnist' | 'decoymnist-hard' | 'decoyfashion-hard';
  /** 'object': the digit / item mask dilated by 2 px (the gates' digit mass); 'decoy': the shortcut mask (patch or frame). */
  region: 'object' | 'decoy';
  synonyms: readonly string[];
  /** The second held-out list (see the file comment). */
  secondList: readonly string[];
  /** The third held-out list (see the file comment). */
  thirdList: readonly string[];
}

export const SYNONYM_CONCEPTS: readonly SynonymConcept[] = [
  {
    concept: 'digit', prompt: 'a digit', dataset: 'decoymnist', region: 'object',
    synonyms: ['a figure', 'a cipher', 'an integer', 'a numeric character', 'a glyph', 'a symbol', 'a hand-drawn numeral', 'a scrawled figure', 'digits', 'a numeric symbol'],
    secondList: ['an arabic numeral', 'a numerical digit', 'a single-digit number', 'a penned number', 'numerals', 'a numeral sign', 'a counting number'],
    thirdList: ['a decimal digit', 'a roman numeral', 'a cardinal number', 'a sketched numeral', 'a pencilled digit'],
  },
  {
    concept: 'clothing', prompt: 'clothing', dataset: 'decoyfashion-hard', region: 'object',
    synonyms: ['attire', 'garb', 'an outfit', 'garments', 'raiment', 'a costume', 'togs', 'wardrobe', 'an article of clothing', 'a piece of attire'],
    secondList: ['apparel items', 'vesture', 'habiliment', 'duds', 'an ensemble', 'wear'],
    thirdList: ['clothing articles', 'menswear', 'womenswear', 'outerwear', 'a getup', 'finery', 'vestments'],
  },
  {
    concept: 'frame', prompt: 'a frame', dataset: 'decoymnist-hard', region: 'decoy',
    synonyms: ['a boundary', 'a perimeter', 'the periphery', 'an edging', 'a surround', 'a bezel', 'a fringe', 'borders', 'a boundary around the image', 'a picture frame'],
    secondList: ['an enclosure', 'a framing', 'a casing', 'a border strip', 'an edge band', 'a boundary line', 'frames', 'a mount'],
    thirdList: ['a framework', 'a bounding box', 'an outer border', 'a matting', 'a trim', 'a skirting', 'a contour'],
  },
  {
    concept: 'square', prompt: 'a square', dataset: 'decoymnist', region: 'decoy',
    synonyms: ['a rectangle', 'a tile', 'a quadrilateral', 'a quadrangle', 'a cube', 'a square shape', 'a small rectangle', 'a pixel block'],
    secondList: ['a quad', 'a checker', 'a parallelogram', 'a rhombus', 'a plaque', 'a box shape', 'a cell'],
    thirdList: ['a tessera', 'a pad', 'a swatch', 'a marker', 'a chip', 'a cuboid'],
  },
];

/** Which held-out list an entry is on (1, 2, 3: in the order they were written; the file comment says why three). */
export type SynonymList = 1 | 2 | 3;

export const SYNONYM_LISTS: readonly SynonymList[] = [1, 2, 3];

/** The lists a synonym report measures unless told otherwise: the third waits for the next reading (file comment). */
export const SYNONYM_LISTS_MEASURED: readonly SynonymList[] = [1, 2];

/** A concept's held-out entries on the given lists, list by list, in list order. */
export function heldOutEntries(c: SynonymConcept, lists: readonly SynonymList[] = SYNONYM_LISTS): { prompt: string; list: SynonymList }[] {
  return ([[1, c.synonyms], [2, c.secondList], [3, c.thirdList]] as const)
    .filter(([list]) => lists.includes(list))
    .flatMap(([list, xs]) => xs.map((prompt) => ({ prompt, list })));
}

/** A synonym counts as good when its mass is at most this far below its concept word's (fraction: 5 points). */
export const SYNONYM_TOLERANCE = 0.05;
