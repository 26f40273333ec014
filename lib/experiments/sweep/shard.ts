import { UserError } from '../../util/errors';

/** Shard I of N (0 <= I < N): one of N independent jobs sharing a sweep folder. */
export interface Shard {
  index: number;
  count: number;
}

/** Parses `I/N` (e.g. SLURM's `$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT`). */
export function parseShard(text: string): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  if (!m) throw new UserError(`--shard must be I/N with whole numbers (e.g. 0/4), got '${text}'`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1) throw new UserError(`--shard ${text}: N must be at least 1`);
  if (index >= count) throw new UserError(`--shard ${text}: I must be in 0..${count - 1}`);
  return { index, count };
}

/**
 * The runs of one shard: runs sorted by the hash part of their id, every N-th from position I.
 * Depends only on the set of ids (not on grid key order or on which machine asks), so N jobs split
 * a sweep with every run in exactly one shard and shard sizes differing by at most one. Sorting by
 * hash rather than by the readable prefix keeps a shard from getting e.g. all runs of one seed.
 */
export function selectShard<T extends { id: string }>(runs: readonly T[], shard: Shard): T[] {
  const key = (id: string) => id.slice(id.lastIndexOf('-') + 1) + ' ' + id;
  const order = [...runs].sort((a, b) => (key(a.id) < key(b.id) ? -1 : key(a.id) > key(b.id) ? 1 : 0));
  const mine = new Set(order.filter((_, i) => i % shard.count === shard.index).map((r) => r.id));
  // Keep the caller's (grid) order within the shard.
  return runs.filter((r) => mine.has(r.id));
}
