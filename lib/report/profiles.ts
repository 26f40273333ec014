import { UserError } from '../util/errors';
import { initBackend, type BackendInfo } from '../backend';

/**
 * How long the notebooks run. One parameters cell per notebook names a profile; the environment
 * variable LTL_PROFILE overrides it, so `LTL_PROFILE=quick npm run reproduce` is the CI run.
 *  - quick:    smoke test, every code path, seconds per notebook (CI; whole pipeline < 5 min)
 *  - standard: the default main job; small but meaningful runs (whole pipeline < 30 min on 2 cores)
 *  - paper:    full-length, multi-seed runs (the paper's 30 epochs on all 50,400 training images)
 */
export type ProfileName = 'quick' | 'standard' | 'paper';
export const PROFILE_NAMES: readonly ProfileName[] = ['quick', 'standard', 'paper'];

export interface Profile {
  readonly name: ProfileName;
  readonly description: string;
  /** Datasets trained on in notebook 04 (the paper's two, plus the harder Fashion variants when affordable). */
  readonly datasets: readonly string[];
  /** Training images (the first N of the training split; null: all 50,400). */
  readonly trainImages: number | null;
  /** Validation and test images evaluated each epoch (the first N of each; null: all). */
  readonly evalImages: number | null;
  /** Training length and the epoch A where the attention loss starts (METHOD.md section 5). */
  readonly epochs: number;
  readonly attentionEpoch: number;
  /** Training seeds; results are reported as mean +- std over them. */
  readonly seeds: readonly number[];
  /** Image grids: columns per row and examples per class. */
  readonly gridColumns: number;
  /** Images for dataset statistics (notebook 01) and map quality (notebook 02). */
  readonly statsImages: number;
  readonly promptImages: number;
  /** Ablations (notebook 05): the values swept, each around the defaults of section 5. */
  readonly ablation: {
    readonly trainImages: number | null;
    readonly epochs: number;
    readonly lambdas: readonly number[];
    readonly attentionEpochs: readonly number[];
    readonly methods: readonly string[];
    readonly mapSources: readonly string[];
    readonly prompts: number;
    readonly seeds: readonly number[];
    /** The dataset the ablations train on. */
    readonly dataset: string;
    /** Defaults the other sweeps hold fixed (lambda0 as in the paper). */
    readonly attentionEpoch: number;
    readonly lambda: number;
  };
}

export const PROFILES: Readonly<Record<ProfileName, Profile>> = {
  quick: {
    name: 'quick',
    description: 'CI smoke run: tiny subsets, two epochs, one seed',
    datasets: ['colormnist', 'decoymnist'],
    trainImages: 2000, evalImages: 500,
    epochs: 2, attentionEpoch: 1, seeds: [37],
    gridColumns: 8, statsImages: 1000, promptImages: 64,
    ablation: {
      trainImages: 1000, epochs: 2,
      lambdas: [0, 160], attentionEpochs: [0, 1], methods: ['cam', 'gradcam'],
      mapSources: ['embedded', 'oracle', 'uniform', 'random'], prompts: 2, seeds: [37], dataset: 'decoymnist', attentionEpoch: 1, lambda: 160,
    },
  },
  standard: {
    name: 'standard',
    description: 'default: 20,000 training images, 5 epochs, one seed (about 11 min on 2 cores from an empty cache)',
    datasets: ['colormnist', 'decoymnist'],
    trainImages: 20000, evalImages: 5000,
    epochs: 5, attentionEpoch: 2, seeds: [37],
    gridColumns: 10, statsImages: 10000, promptImages: 500,
    ablation: {
      trainImages: 6000, epochs: 4,
      lambdas: [0, 40, 160, 640], attentionEpochs: [0, 2], methods: ['cam', 'gradcam', 'inputgrad'],
      mapSources: ['embedded', 'oracle', 'uniform', 'random'], prompts: 2, seeds: [37], dataset: 'decoymnist', attentionEpoch: 1, lambda: 160,
    },
  },
  paper: {
    name: 'paper',
    description: "the paper's schedule: all 50,400 training images, 30 epochs, A = 11, five seeds (hours)",
    datasets: ['colormnist', 'decoymnist', 'colorfashion', 'decoyfashion'],
    trainImages: null, evalImages: null,
    epochs: 30, attentionEpoch: 11, seeds: [37, 38, 39, 40, 41],
    gridColumns: 10, statsImages: 50400, promptImages: 2000,
    ablation: {
      trainImages: 20000, epochs: 15,
      lambdas: [0, 40, 100, 160, 220, 300, 640], attentionEpochs: [0, 3, 5, 7, 11], methods: ['cam', 'gradcam', 'inputgrad'],
      mapSources: ['embedded', 'oracle', 'uniform', 'random'], prompts: 5, seeds: [37, 38, 39], dataset: 'decoymnist', attentionEpoch: 5, lambda: 160,
    },
  },
};

/**
 * The profile a notebook runs with: LTL_PROFILE if set, else the name in its parameters cell.
 * A typo is an error, not a silent fallback, because it decides how long a run takes.
 */
export function getProfile(name: string = 'standard', env: NodeJS.ProcessEnv = process.env): Profile {
  const chosen = (env.LTL_PROFILE ?? '').trim() || name;
  if (!(PROFILE_NAMES as readonly string[]).includes(chosen)) {
    const where = env.LTL_PROFILE ? 'LTL_PROFILE' : 'the parameters cell';
    throw new UserError(`unknown profile '${chosen}' (from ${where}): use one of ${PROFILE_NAMES.join(', ')}`);
  }
  return PROFILES[chosen as ProfileName];
}

/** `n` capped by a profile's limit (null = no limit). */
export function limit(n: number, max: number | null): number {
  return max === null ? n : Math.min(n, max);
}

/** A profile as key/value rows, for the table at the top of each notebook. */
export function profileRows(p: Profile): { setting: string; value: string }[] {
  const show = (v: unknown) => (v === null ? 'all' : Array.isArray(v) ? v.join(', ') : String(v));
  const flat: [string, unknown][] = [
    ['profile', `${p.name}: ${p.description}`], ['datasets', p.datasets], ['training images', p.trainImages],
    ['validation and test images evaluated', p.evalImages], ['epochs (attention from epoch)', `${p.epochs} (${p.attentionEpoch})`],
    ['seeds', p.seeds], ['ablation: images, epochs', `${show(p.ablation.trainImages)}, ${p.ablation.epochs}`],
  ];
  return flat.map(([setting, v]) => ({ setting, value: show(v) }));
}

/**
 * The first code cell of every notebook: resolves the profile (LTL_PROFILE wins), initialises the
 * compute backend (without it tfjs would fall back to its slow pure-JS 'cpu' backend for map
 * generation) and prints one line saying both.
 */
export async function setupNotebook(profileName: string): Promise<{ profile: Profile; backend: BackendInfo }> {
  const profile = getProfile(profileName);
  const backend = await initBackend();
  console.log(`profile ${profile.name} (${profile.description}); backend ${backend.name}, ${backend.threads} thread(s)`);
  return { profile, backend };
}
