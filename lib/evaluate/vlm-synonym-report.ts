import type { ImageSplit } from '../data/types';
import { UserError } from '../util/errors';
import type { MapDefaults } from '../vlm/embedded/checkpoint';
import { FALLBACK_BACKGROUND, promptMaps } from '../vlm/embedded/generator';
import type { VlmModel } from '../vlm/embedded/model';
import type { Vocabulary } from '../vlm/embedded/tokenizer';
import { mapQuality } from './map-quality';
import { SYNONYM_CONCEPTS, SYNONYM_LISTS_MEASURED, SYNONYM_TOLERANCE, heldOutEntries, type SynonymConcept, type SynonymList } from './vlm-synonyms';

/** One held-out synonym: its map mass on its concept's region, and how far below the concept word's it is. */
export interface SynonymMass {
  prompt: string;
  /** Which held-out list it is on (lib/evaluate/vlm-synonyms.ts says why there are several). */
  list: SynonymList;
  mass: number;
  /** Concept word's mass minus this synonym's (fraction; negative when the synonym does better). */
  gap: number;
  /** gap <= SYNONYM_TOLERANCE. */
  within: boolean;
  /** How the embedded VLM reads the prompt's unknown words ("attire -> clothing 0.60, dress 0.40"), for the report. */
  reading: string;
}

export interface ConceptSynonyms {
  concept: string;
  prompt: string;
  dataset: SynonymConcept['dataset'];
  region: SynonymConcept['region'];
  images: number;
  /** The concept word's own map mass on the region. */
  mass: number;
  synonyms: SynonymMass[];
}

export interface SynonymReport {
  tolerance: number;
  images: number;
  background: string[];
  temperature: number;
  concepts: ConceptSynonyms[];
  /** Listed synonyms measured, and how many are within the tolerance of their concept word (every list). */
  measured: number;
  within: number;
  /** The same per list, in list order (lists with no entry measured left out). */
  lists: { list: SynonymList; measured: number; within: number }[];
}

/** How a prompt's unknown words are read: "attire -> clothing 0.60 + dress 0.40; near -> <unk>" ('' when all known). */
export function describeWordReading(vocab: Vocabulary, prompt: string): string {
  const r = vocab.read(prompt);
  const parts = r.mapped.map((m) => `${m.word} -> ${(m.blend ?? [{ word: m.to, weight: 1 }]).map((b) => (m.blend && m.blend.length > 1 ? `${b.word} ${b.weight.toFixed(2)}` : b.word)).join(' + ')}`);
  for (const w of r.unknown) parts.push(`${w} -> <unk>`);
  return parts.join('; ');
}

/**
 * Map mass of each concept's own word and of its held-out synonyms (lib/evaluate/vlm-synonyms.ts) on the
 * concept's region, on the first `limit` images of the split of each concept's dataset (the same images and
 * masks as the concept's gate). Concepts whose dataset is not given are skipped (e.g. `--no-broad`). `lists`: the
 * held-out lists measured (default SYNONYM_LISTS_MEASURED).
 */
export function evaluateSynonyms(
  vlm: { model: VlmModel; vocab: Vocabulary; meta?: { mapDefaults?: MapDefaults } },
  splits: Partial<Record<SynonymConcept['dataset'], ImageSplit>>,
  o: { limit?: number; background?: string[]; temperature?: number; dilate?: number; concepts?: readonly SynonymConcept[]; lists?: readonly SynonymList[] } = {},
): SynonymReport {
  const background = o.background ?? vlm.meta?.mapDefaults?.background ?? FALLBACK_BACKGROUND;
  const temperature = o.temperature ?? vlm.meta?.mapDefaults?.temperature ?? 1;
  const dilate = o.dilate ?? 2;
  const concepts: ConceptSynonyms[] = [];
  let images = 0;
  for (const c of o.concepts ?? SYNONYM_CONCEPTS) {
    const split = splits[c.dataset];
    if (!split) continue;
    if (c.region === 'decoy' && !split.shortcutMasks) throw new UserError(`the ${c.concept} synonyms are measured on shortcut masks, and split ${split.split} of ${c.dataset} has none`);
    const idx = Array.from({ length: Math.min(o.limit ?? split.count, split.count) }, (_, i) => i);
    const mass = (prompt: string): number => {
      const q = mapQuality(promptMaps(vlm.model, vlm.vocab, split, idx, { prompt, background, temperature }), split, { indices: idx, dilate });
      return c.region === 'object' ? q.digitMass : q.decoyMass!;
    };
    const own = mass(c.prompt);
    const synonyms = heldOutEntries(c, o.lists ?? SYNONYM_LISTS_MEASURED).map(({ prompt, list }) => {
      const m = mass(prompt);
      return { prompt, list, mass: m, gap: own - m, within: own - m <= SYNONYM_TOLERANCE, reading: describeWordReading(vlm.vocab, prompt) };
    });
    concepts.push({ concept: c.concept, prompt: c.prompt, dataset: c.dataset, region: c.region, images: idx.length, mass: own, synonyms });
    images = Math.max(images, idx.length);
  }
  const all = concepts.flatMap((c) => c.synonyms);
  const count = (xs: SynonymMass[]) => ({ measured: xs.length, within: xs.filter((s) => s.within).length });
  const lists = [...new Set(all.map((s) => s.list))].sort().map((list) => ({ list, ...count(all.filter((s) => s.list === list)) }));
  return { tolerance: SYNONYM_TOLERANCE, images, background, temperature, concepts, ...count(all), lists };
}
