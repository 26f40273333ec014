import { UserError } from '../util/errors';
import { initBackend, type BackendInfo } from '../backend';
import { MAP_SOURCE, type MapSourceName } from '../maps/registry';

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
  /** Datasets trained on in notebook 04: decoymnist-hard (a decoy that bites), the paper's two, and the Fashion variants when affordable. */
  readonly datasets: readonly string[];
  /** Training images (the first N of the training split; null: all 50,400). */
  readonly trainImages: number | null;
  /** Validation and test images evaluated each epoch (the first N of each; null: all). */
  readonly evalImages: number | null;
  /** Training length and the epoch A where the attention loss starts (docs/method.md section 5). */
  readonly epochs: number;
  readonly attentionEpoch: number;
  /** Training seeds; results are reported as mean +- std over them. */
  readonly seeds: readonly number[];
  /** Image grids: columns per row and examples per class. */
  readonly gridColumns: number;
  /** Images for dataset statistics (notebook 01) and map quality (notebook 02). */
  readonly statsImages: number;
  readonly promptImages: number;
  /**
   * Ablations (notebook 05) around the prompt-guided default (RRR, --rrr-mode prompt, embedded-VLM maps of
   * "a digit", lambda 10, penalty from epoch 0, epoch selected by val-rr), one factor at a time.
   */
  readonly ablation: {
    /** The dataset the ablations train on (decoymnist-hard: a decoy that vanilla training falls for). */
    readonly dataset: string;
    /** The colour dataset of the attribute-prompt comparison. */
    readonly colourDataset: string;
    readonly trainImages: number | null;
    /** Validation and test images evaluated each epoch (the first N of each; null: all). */
    readonly evalImages: number | null;
    readonly epochs: number;
    /** Every ablation run is trained once per seed (ablationSpecs); figures show the mean over them. */
    readonly seeds: readonly number[];
    /** The default lambda (RRR_PROMPT_DEFAULT_LAMBDA) and the others swept (0: the constraint measured, not applied). */
    readonly lambda: number;
    readonly lambdas: readonly number[];
    readonly mapSources: readonly MapSourceName[];
  };
}

/** The map sources the ablation compares: the VLM's maps, the annotation's and two controls. */
const ABLATION_MAP_SOURCES = [MAP_SOURCE.embedded, MAP_SOURCE.oracle, MAP_SOURCE.uniform, MAP_SOURCE.random] as const;

export const PROFILES: Readonly<Record<ProfileName, Profile>> = {
  quick: {
    name: 'quick',
    description: 'CI smoke run: tiny subsets, two epochs, one seed',
    // decoymnist runs the same code paths as decoymnist-hard: left out to keep CI short
    datasets: ['decoymnist-hard', 'colormnist'],
    trainImages: 2000, evalImages: 500,
    epochs: 2, attentionEpoch: 1, seeds: [37],
    gridColumns: 8, statsImages: 1000, promptImages: 64,
    ablation: {
      dataset: 'decoymnist-hard', colourDataset: 'colormnist', trainImages: 1000, evalImages: 300, epochs: 2, seeds: [37],
      lambda: 10, lambdas: [0, 100], mapSources: ABLATION_MAP_SOURCES,
    },
  },
  standard: {
    name: 'standard',
    description: 'default: 20,000 training images, 5 epochs, one seed (about 11 min on 2 cores before decoymnist-hard and the prompt-guided runs were added; not timed since)',
    datasets: ['decoymnist-hard', 'colormnist', 'decoymnist'],
    trainImages: 20000, evalImages: 5000,
    epochs: 5, attentionEpoch: 2, seeds: [37],
    gridColumns: 10, statsImages: 10000, promptImages: 500,
    ablation: {
      dataset: 'decoymnist-hard', colourDataset: 'colormnist', trainImages: 6000, evalImages: 2000, epochs: 4, seeds: [37],
      lambda: 10, lambdas: [0, 1, 100], mapSources: ABLATION_MAP_SOURCES,
    },
  },
  paper: {
    name: 'paper',
    description: "the paper's schedule: all 50,400 training images, 30 epochs, A = 11, five seeds (hours)",
    datasets: ['decoymnist-hard', 'colormnist', 'decoymnist', 'colorfashion', 'decoyfashion'],
    trainImages: null, evalImages: null,
    epochs: 30, attentionEpoch: 11, seeds: [37, 38, 39, 40, 41],
    gridColumns: 10, statsImages: 50400, promptImages: 2000,
    ablation: {
      dataset: 'decoymnist-hard', colourDataset: 'colormnist', trainImages: 20000, evalImages: null, epochs: 15, seeds: [37, 38, 39],
      lambda: 10, lambdas: [0, 1, 3, 30, 100, 1000], mapSources: ABLATION_MAP_SOURCES,
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
    ['seeds', p.seeds], ['ablation: dataset, images, epochs, seeds', `${p.ablation.dataset}, ${show(p.ablation.trainImages)}, ${p.ablation.epochs}, ${show(p.ablation.seeds)}`],
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
