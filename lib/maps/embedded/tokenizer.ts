import { DIGIT_NAMES } from '../../data/bases/mnist';
import { UserError } from '../../util/errors';

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

/** A word list with fixed ids; encodes prompts as padded id arrays. */
export class Vocabulary {
  readonly words: readonly string[];
  private readonly index: Map<string, number>;

  constructor(words: readonly string[]) {
    if (words[PAD_ID] !== PAD_TOKEN || words[UNK_ID] !== UNK_TOKEN) {
      throw new UserError(`vocabulary must start with ${PAD_TOKEN} and ${UNK_TOKEN}`);
    }
    this.words = words;
    this.index = new Map(words.map((w, i) => [w, i]));
    if (this.index.size !== words.length) throw new UserError('vocabulary has duplicate words');
  }

  /** Builds a vocabulary from every word of the given texts, sorted (so it does not depend on text order). */
  static fromTexts(texts: Iterable<string>): Vocabulary {
    const set = new Set<string>();
    for (const t of texts) for (const w of tokenize(t)) set.add(w);
    return new Vocabulary([PAD_TOKEN, UNK_TOKEN, ...[...set].sort()]);
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

  /** Token ids of a prompt, unknown words as UNK (never dropped: "a zebra" still has two tokens). */
  ids(text: string): number[] {
    return tokenize(text).map((w) => this.id(w));
  }

  /**
   * Encodes texts into one row-major [n, maxLen] Int32Array, padded with PAD_ID and truncated to maxLen.
   * An empty prompt encodes as a single UNK so that its mean embedding is defined.
   */
  encodeBatch(texts: readonly string[], maxLen: number): Int32Array {
    const out = new Int32Array(texts.length * maxLen);
    texts.forEach((t, i) => {
      let ids = this.ids(t);
      if (ids.length === 0) ids = [UNK_ID];
      for (let j = 0; j < Math.min(maxLen, ids.length); j++) out[i * maxLen + j] = ids[j];
    });
    return out;
  }

  toJSON(): string[] {
    return [...this.words];
  }
}
