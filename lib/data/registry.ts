import type { BaseSet, ShortcutRule } from './types';
import { loadMnist } from './bases/mnist';
import { loadFashionMnist } from './bases/fashion-mnist';
import { colorRule } from './shortcuts/color';
import { decoyRule } from './shortcuts/decoy';
import { decoyFrameRule } from './shortcuts/decoy-frame';
import { UserError } from '../util/errors';

/** Loads a base set; `dir` overrides where its files are. */
export type BaseSetLoader = (dir?: string) => BaseSet;

const baseSets = new Map<string, BaseSetLoader>();
const rules = new Map<string, ShortcutRule>();
const datasets = new Map<string, { base: string; shortcut: string }>();

/** Extension points: a user adds a base set, a shortcut rule or a named dataset without editing the core. */
export function registerBaseSet(name: string, loader: BaseSetLoader): void {
  baseSets.set(name, loader);
}
export function registerShortcut(rule: ShortcutRule): void {
  rules.set(rule.name, rule);
}
export function registerDataset(name: string, base: string, shortcut: string): void {
  datasets.set(name, { base, shortcut });
}

export function getBaseSetLoader(name: string): BaseSetLoader {
  const l = baseSets.get(name);
  if (!l) throw new UserError(`unknown base set '${name}' (known: ${[...baseSets.keys()].join(', ')})`);
  return l;
}
export function getShortcut(name: string): ShortcutRule {
  const r = rules.get(name);
  if (!r) throw new UserError(`unknown shortcut rule '${name}' (known: ${[...rules.keys()].join(', ')})`);
  return r;
}
/** Resolves a dataset name: a registered one, or `base+shortcut` (e.g. `fashion-mnist+decoy`). */
export function resolveDataset(name: string): { base: string; shortcut: string } {
  const d = datasets.get(name);
  if (d) return d;
  const m = /^([\w-]+)\+([\w-]+)$/.exec(name);
  if (m && baseSets.has(m[1]) && rules.has(m[2])) return { base: m[1], shortcut: m[2] };
  // name the base sets and rules too: 'mnist+bogus' is fixed by knowing which rules exist
  const keys = (m: Map<string, unknown>) => [...m.keys()].join(', ');
  throw new UserError(`unknown dataset '${name}' (known: ${datasetNames().join(', ')}, or BASE+RULE: BASE one of ${keys(baseSets)}; RULE one of ${keys(rules)})`);
}
export function datasetNames(): string[] {
  return [...datasets.keys()];
}

registerBaseSet('mnist', loadMnist);
registerBaseSet('fashion-mnist', loadFashionMnist);
registerShortcut(colorRule);
registerShortcut(decoyRule);
registerShortcut(decoyFrameRule);
registerDataset('colormnist', 'mnist', 'color');
registerDataset('decoymnist', 'mnist', 'decoy');
registerDataset('decoymnist-hard', 'mnist', 'decoy-frame');
registerDataset('colorfashion', 'fashion-mnist', 'color');
registerDataset('decoyfashion', 'fashion-mnist', 'decoy');
registerDataset('decoyfashion-hard', 'fashion-mnist', 'decoy-frame');
