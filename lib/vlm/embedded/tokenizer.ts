import { DIGIT_NAMES } from '../../data/bases/mnist';
import { UserError } from '../../util/errors';
import { mapUnknownWord, type WordMapping } from './lexicon';

/** Id 0 pads a token sequence; id 1 stands for every word the vocabulary does not know. */
export const PAD_ID = 0;
export const UNK_ID = 1;
export const PAD_TOKEN = '<pad>';
export const UNK_TOKEN = '<unk>';

/**
 * Splits any English prompt into words: lowercase, split on everything that is not a letter or a digit;
 * a lone digit character becomes its English name ("the number 7" -> the, number, seven), so digits
 * written as numerals mean the same as the words the corpus uses. Other numbers stay as they are (UNK).
 */
export function tokenize(text: string): string[] {
  return text
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w.length > 0)
    .map((w) => (/^[0-9]$/.test(w) ? DIGIT_NAMES[Number(w)] : w));
}

/** How a prompt is read: its words, those the vocabulary has, those mapped to a known word (WordNet), and the rest (UNK). */
export interface PromptReading {
  words: string[];
  known: string[];
  mapped: WordMapping[];
  unknown: string[];
}

/**
 * A word list with fixed ids; encodes prompts as padded id arrays. Open: a word outside the list is read
 * as the known word WordNet says it means (lib/vlm/embedded/lexicon.ts), else as UNK. WordNet is read only
 * when a word is unknown, and each word's mapping is cached, so prompts of known words cost nothing extra.
 */
export class Vocabulary {
  readonly words: readonly string[];
  private readonly index: Map<string, number>;
  private readonly mappings = new Map<string, WordMapping | null>();

  /**
   * `placeWords`: known words an unknown word is never read as (the corpus's words for where a thing is,
   * lib/vlm/embedded/corpus.ts placeWords); they still read as themselves.
   */
  constructor(words: readonly string[], private readonly placeWords: ReadonlySet<string> = new Set()) {
    if (words[PAD_ID] !== PAD_TOKEN || words[UNK_ID] !== UNK_TOKEN) {
      throw new UserError(`vocabulary must start with ${PAD_TOKEN} and ${UNK_TOKEN}`);
    }
    this.words = words;
    this.index = new Map(words.map((w, i) => [w, i]));
    if (this.index.size !== words.length) throw new UserError('vocabulary has duplicate words');
  }

  /** Builds a vocabulary from every word of the given texts, sorted (so it does not depend on text order). */
  static fromTexts(texts: Iterable<string>, placeWords?: ReadonlySet<string>): Vocabulary {
    const set = new Set<string>();
    for (const t of texts) for (const w of tokenize(t)) set.add(w);
    return new Vocabulary([PAD_TOKEN, UNK_TOKEN, ...[...set].sort()], placeWords);
  }

  get size(): number {
    return this.words.length;
  }

  id(word: string): number {
    return this.index.get(word) ?? UNK_ID;
  }

  has(word: string): boolean {
    return this.index.has(word);
  }

  /** The known word an unknown word stands for (WordNet; cached), or undefined. */
  mapping(word: string): WordMapping | undefined {
    if (this.index.has(word)) return undefined;
    let m = this.mappings.get(word);
    if (m === undefined) {
      m = mapUnknownWord(word, (w) => this.index.has(w) && w !== PAD_TOKEN && w !== UNK_TOKEN && !this.placeWords.has(w)) ?? null;
      this.mappings.set(word, m);
    }
    return m ?? undefined;
  }

  /** How a prompt is read: which words are known, which were mapped to what, which stay unknown. */
  read(text: string): PromptReading {
    const words = tokenize(text);
    const r: PromptReading = { words, known: [], mapped: [], unknown: [] };
    for (const w of new Set(words)) {
      if (this.index.has(w)) r.known.push(w);
      else {
        const m = this.mapping(w);
        if (m) r.mapped.push(m);
        else r.unknown.push(w);
      }
    }
    return r;
  }

  /**
   * Token ids of a prompt: known words as themselves, unknown words as the known word WordNet maps them to
   * (`open`, the default) or else UNK (never dropped: "a zebra" still has two tokens).
   */
  ids(text: string, open = true): number[] {
    return tokenize(text).map((w) => {
      const id = this.id(w);
      if (id !== UNK_ID || !open) return id;
      const m = this.mapping(w);
      return m ? this.id(m.to) : UNK_ID;
    });
  }

  /**
   * The known words (ids and weights summing to 1) each word of a prompt stands for, where WordNet reads a word
   * as a blend of several; null where a word is read as one id (a known word, one mapped word, or UNK), which
   * is what `ids` gives. A prompt of known words is all null.
   */
  blends(text: string): ({ id: number; weight: number }[] | null)[] {
    return tokenize(text).map((w) => {
      if (this.index.has(w)) return null;
      const b = this.mapping(w)?.blend;
      return b ? b.map(({ word, weight }) => ({ id: this.id(word), weight })) : null;
    });
  }

  /**
   * Encodes texts into one row-major [n, maxLen] Int32Array, padded with PAD_ID and truncated to maxLen.
   * An empty prompt encodes as a single UNK so that its mean embedding is defined. `open` as in `ids`
   * (training encodes its own captions closed: every word is the grammar's).
   */
  encodeBatch(texts: readonly string[], maxLen: number, open = true): Int32Array {
    const out = new Int32Array(texts.length * maxLen);
    texts.forEach((t, i) => {
      let ids = this.ids(t, open);
      if (ids.length === 0) ids = [UNK_ID];
      for (let j = 0; j < Math.min(maxLen, ids.length); j++) out[i * maxLen + j] = ids[j];
    });
    return out;
  }

  toJSON(): string[] {
    return [...this.words];
  }
}
