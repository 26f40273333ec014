import type { RunConfig } from './grid';
import { canonicalJson } from '../../util/canonical-json';
import { sha256 } from '../../util/hash';

export { canonicalJson } from '../../util/canonical-json';

/** Keys shown first in the readable prefix, as bare values (the rest as key+value). */
const LEAD_KEYS = ['dataset', 'method', 'model', 'attention', 'loss', 'maps'];
/** Short names for the readable prefix only (the hash covers the full config). */
const SHORT: Record<string, string> = {
  lambda: 'l', seed: 's', attentionEpoch: 'A', epochs: 'e', limit: 'n', evalLimit: 'ne', phase1: 'p1',
  optimizer: 'opt', lr: 'lr', batch: 'b', prompt: 'pr',
};
const PREFIX_MAX = 64;

/**
 * A run's stable id: a readable prefix (dataset, method, ... seed) plus the first 12 hex digits of
 * the SHA-256 of the canonical config. Only the hash makes it unique; the prefix is for people.
 */
export function runId(config: RunConfig): string {
  const hash = sha256(Buffer.from(canonicalJson(config))).slice(0, 12);
  const keys = Object.keys(config);
  const lead = LEAD_KEYS.filter((k) => k in config);
  const rest = keys.filter((k) => !LEAD_KEYS.includes(k)).sort();
  const parts = [
    ...lead.map((k) => clean(String(config[k]))),
    ...rest.map((k) => (SHORT[k] ?? clean(k)) + clean(String(config[k]))),
  ].filter((p) => p.length > 0);
  let prefix = parts.join('_');
  if (prefix.length > PREFIX_MAX) prefix = prefix.slice(0, PREFIX_MAX);
  return prefix ? `${prefix}-${hash}` : hash;
}

/** Keeps ids safe as folder names on any file system (and in SLURM logs). */
function clean(s: string): string {
  return s.replace(/^.*[\\/]/, '').replace(/[^A-Za-z0-9.+-]/g, '').slice(0, 24);
}

/** The setting a run belongs to: its config without the seed (for mean +- std over seeds). */
export function settingOf(config: RunConfig, over: readonly string[] = ['seed']): RunConfig {
  const rest: RunConfig = {};
  for (const [k, v] of Object.entries(config)) if (!over.includes(k)) rest[k] = v;
  return rest;
}

/** The id of that setting. */
export function settingKey(config: RunConfig, over: readonly string[] = ['seed']): string {
  return canonicalJson(settingOf(config, over));
}
