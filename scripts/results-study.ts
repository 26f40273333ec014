/**
 * The full-length study behind docs/results.md (the study of 2026-12-07, on the committed VLM checkpoint v2): on
 * decoymnist-hard, ColorMNIST, DecoyMNIST and the harder Fashion-MNIST sets (decoyfashion-hard, colorfashion), the
 * language recipe (counterfactual augmentation from the prompts, `ltl train --recipe language`; on the frame sets also
 * told that the frame is at one place in every image, --negative-region shared), its annotation twin,
 * each dataset's clean reference (the same images with the shortcut drawn independently of the label: the limit),
 * vanilla, prompt-guided RRR and RRR with the annotation, and the paper's align (embedded-VLM and oracle maps); 30
 * epochs on the full training split, seeds 1-5 by default (--seeds).
 *
 *   node --import tsx scripts/results-study.ts [--jobs 2] [--seeds 1,2,3,4,5] [--only dataset,...] [--rows row,...]
 *     [--skip dataset/row,...] [--docs DIR] [--dry-run]
 *
 * (--rows: only those rows; a dataset's first row, vanilla, always runs first: its run makes the dataset's prompt maps;
 * when --rows does not name it, that run only makes the maps: its other seeds do not run and docs/results keeps its
 * published runs. --skip: not these rows of these datasets.)
 *
 * Every run is an `ltl train` run folder under runs/study/ (rerunning skips finished runs and resumes killed ones);
 * finished runs' result.json are copied to docs/results/<dataset>/<row>/seed-<n>/result.json, from which
 * scripts/results-table.ts makes the tables. Nothing here reads a test number:
 *  - every run but the clean reference is given the dataset's language (the prompt that names the object, and the
 *    negative or attribute prompt that names what must not matter: what `ltl diagnose` finds) and selects its epoch
 *    with --select val-cf: accuracy on the validation images varied where the prompts say nothing may matter (fixed
 *    draws, the same images for every run of a dataset). The clean reference has no shortcut to see and selects by
 *    validation accuracy;
 *  - a row with a scan runs every candidate (lambda x variant, e.g. the augmentation's share, 0 being "no
 *    constraint") with seed 1 first; the candidate whose run has the best counterfactual validation accuracy at its
 *    selected epoch is used for the other seeds (ties: the smaller lambda, then the plain settings); docs/results
 *    keeps that candidate's seeds only, and docs/results/lambda-choices.json records the scan.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readRunDiverged, readRunResult, runFiles } from '../lib/train/run-folder';

interface Method {
  name: string;
  args: string[];
  /** Lambdas scanned with seed 1; none: the method's own default. */
  lambdas?: number[];
  /** Other settings scanned with seed 1 beside the plain args, each with every lambda (validation picks one pair). */
  variants?: Variant[];
  /** How many of the seeds (default all); the study's time goes first to the rows that answer its question. */
  seeds?: number;
  /** When its seed-1 (scan) runs start; its second seed starts at `then` (lower first, across datasets), its n-th at
   * then + 10 (n - 2): a second seed of every row before a third of any. */
  first: number;
  then: number;
  /** All its seeds at `then`, before the other rows' later seeds (the row that answers the study's question). */
  allSeedsFirst?: boolean;
  /** false: the run is not given the dataset's prompts (the clean reference). */
  language?: boolean;
  /** How its epoch is selected (default val-cf). */
  select?: 'val-cf' | 'val-acc';
}

interface DatasetPlan {
  dataset: string;
  /** Lower runs first (then method order, then seed). */
  priority: number;
  /** The prompts every run is given (the counterfactual validation measure; what the language rows vary). */
  measure: string[];
  methods: Method[];
}

interface Variant { name: string; args: string[] }

/** The language each dataset's runs are given: what names the object, and what names the shortcut. */
const LANGUAGE: Record<string, string[]> = {
  'decoymnist-hard': ['--prompt', 'a digit', '--negative-prompt', 'a frame'],
  decoymnist: ['--prompt', 'a digit', '--negative-prompt', 'a square'],
  colormnist: ['--prompt', 'a digit', '--attribute-prompt', 'colour of a digit'],
  'decoyfashion-hard': ['--prompt', 'clothing', '--negative-prompt', 'a frame'],
  colorfashion: ['--prompt', 'clothing', '--attribute-prompt', 'colour of clothing'],
};
/** Prompt masks by mass (lib/train/prompt-constraint.ts massRegion): the region that holds 99 % of the map's mass. */
const MASS_MASKS: Variant = { name: 'mass-0.99-dilate-2', args: ['--prompt-mass', '0.99', '--prompt-dilate', '2'] };
const RRR = ['--method', 'rrr', '--attention-epoch', '0'];

/** The sets whose negative prompt names a thing at one place in every image (the frame decoy): the language-shared row. */
const FIXED_PLACE = new Set(['decoymnist-hard', 'decoyfashion-hard']);

/** Several phrasings of each concept (GALS-style: their maps averaged), for the spatial datasets' phrasings row. */
const PHRASINGS: Record<string, string[]> = {
  'decoymnist-hard': ['--prompt', 'a digit|a handwritten digit', '--negative-prompt', 'a frame|a border'],
  'decoyfashion-hard': ['--prompt', 'clothing|a garment', '--negative-prompt', 'a frame|a border'],
};

/** The rows of one dataset; `colour`: the shortcut is a colour (attribute prompt, colour modes). */
function rows(colour: boolean, mnist: boolean, dataset: string): Method[] {
  return [
    { name: 'vanilla', args: ['--method', 'vanilla'], first: 0, then: 3, allSeedsFirst: true },
    // the limit: the same net and budget on the same images whose shortcut predicts nothing
    { name: 'clean', args: ['--method', 'vanilla', '--shortcut-labels', 'random'], language: false, select: 'val-acc', first: 0.1, then: 3, allSeedsFirst: true },
    // the recipe; validation chooses how much of each batch is varied ("no constraint", share 0, included), how a
    // region is redrawn (the recipe's background swap, or every free pixel from the other image), and the schedule
    // (the recipe's A = 11, the vanilla and clean rows' schedule: the learning rate and momentum restart at epoch 11;
    // or A = 0). This round's study ran from a commit whose recipe had A = 0 and scanned A = 11 as 'restart-11', the
    // candidate validation chose on every dataset: today's recipe (docs/results.md)
    {
      name: 'language', args: ['--recipe', 'language'], first: 0.2, then: 0.5, allSeedsFirst: true,
      variants: [
        { name: 'share-0.5', args: ['--augment-share', '0.5'] },
        { name: 'redraw-image', args: ['--augment-redraw', 'image'] },
        { name: 'restart-0', args: ['--attention-epoch', '0'] },
        { name: 'share-0', args: ['--augment-share', '0'] },
      ],
    },
    // its annotation twin: the annotated shortcut region (dilated 1 px), or a hand-coded random recolouring; the same
    // redraw (--augment-redraw image, the annotated region holds nothing of the object) at A = 0, the recipe's schedule
    // when the row was defined (docs/results.md says so beside its numbers)
    { name: 'language-annotation', args: ['--method', 'vanilla', '--augment', 'annotation', '--attention-epoch', '0'], first: 1, then: 2, allSeedsFirst: true },
    // the twin at the recipe's own settings (A = 11; the background swap where the language names what must not
    // matter), so that it differs from the recipe by the region alone: the annotated one instead of the VLM's
    { name: 'language-annotation-recipe', args: ['--recipe', 'language', '--augment', 'annotation'], first: 1.5, then: 2.05, allSeedsFirst: true },
    // the recipe told that what the negative prompt names is at one place in every image (--negative-region shared: its
    // region is where the mean of its training maps exceeds the threshold, for training and counterfactual validation
    // alike), on the sets whose negative prompt names such a thing (the frame); DecoyMNIST's square moves between
    // corners, and ltl refuses the rule there (its mean map exceeds the threshold nowhere)
    ...(FIXED_PLACE.has(dataset) ? [{ name: 'language-shared', args: ['--recipe', 'language', '--negative-region', 'shared'], first: 1.6, then: 2.1, allSeedsFirst: true }] : []),
    // everything the language gives: each concept in two phrasings, their maps averaged (a row of its own, 3 seeds: its
    // counterfactual validation is measured with its own maps, so it is not one of the recipe's candidates); at the
    // schedule the recipe's scan chose on both spatial sets (A = 11)
    ...(PHRASINGS[dataset] ? [{
      name: 'language-phrasings', args: ['--recipe', 'language', '--attention-epoch', '11', ...PHRASINGS[dataset]], language: false, seeds: 3, first: 2.5, then: 2.6, allSeedsFirst: true,
    }] : []),
    {
      name: 'rrr-prompt', args: [...RRR, '--rrr-mode', 'prompt', '--maps', 'embedded'], first: 4, then: 6,
      ...(colour ? { lambdas: [10, 100], variants: [{ name: 'free-axis', args: ['--attribute-form', 'free-axis'] }] } : { lambdas: [3, 10], variants: [MASS_MASKS] }),
    },
    { name: 'rrr-annotation', args: [...RRR, '--rrr-mode', colour ? 'colour' : 'spatial'], lambdas: [10, 100], first: 5, then: 7 },
    { name: 'align-embedded', args: ['--method', 'align', '--maps', 'embedded'], first: 8, then: 9 },
    ...(mnist ? [{ name: 'align-oracle', args: ['--method', 'align', '--maps', 'oracle'], first: 8.5, then: 9.5 }] : []),
  ];
}

const PLANS: DatasetPlan[] = [
  { dataset: 'decoymnist-hard', priority: 0, measure: LANGUAGE['decoymnist-hard'], methods: rows(false, true, 'decoymnist-hard') },
  { dataset: 'colormnist', priority: 0, measure: LANGUAGE.colormnist, methods: rows(true, true, 'colormnist') },
  { dataset: 'decoymnist', priority: 0, measure: LANGUAGE.decoymnist, methods: rows(false, true, 'decoymnist') },
  { dataset: 'decoyfashion-hard', priority: 0, measure: LANGUAGE['decoyfashion-hard'], methods: rows(false, false, 'decoyfashion-hard') },
  { dataset: 'colorfashion', priority: 0, measure: LANGUAGE.colorfashion, methods: rows(true, false, 'colorfashion') },
];

const ROOT = path.resolve(__dirname, '..');
const RUNS = path.join(ROOT, 'runs', 'study');

function argValue(name: string, dflt: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : dflt;
}
/** Where finished runs' result.json go (a study run from a frozen checkout of the code can publish into another). */
const DOCS = path.resolve(argValue('--docs', path.join(ROOT, 'docs', 'results')));
const JOBS = Number(argValue('--jobs', '2'));
const SEEDS = argValue('--seeds', '1,2,3,4,5').split(',').map(Number);
const ONLY = process.argv.includes('--only') ? argValue('--only', '').split(',') : null;
const ROWS = process.argv.includes('--rows') ? argValue('--rows', '').split(',') : null;
const SKIP = process.argv.includes('--skip') ? argValue('--skip', '').split(',') : [];
const DRY = process.argv.includes('--dry-run');

interface Run { plan: DatasetPlan; method: Method; lambda: number | null; variant: Variant | null; seed: number; dir: string }

const runDir = (p: DatasetPlan, m: Method, lambda: number | null, seed: number, variant: Variant | null = null) =>
  path.join(RUNS, p.dataset, m.name, (variant ? `${variant.name}-` : '') + (lambda === null ? 'default' : `lambda-${lambda}`), `seed-${seed}`);

/** The validation score the study compares candidates by: counterfactual validation accuracy at the selected epoch. */
function valCf(r: any): number {
  return typeof r.valCfAccSelected === 'number' ? r.valCfAccSelected : -1;
}

function train(run: Run): Promise<void> {
  const args = ['bin/ltl.js', 'train', '--dataset', run.plan.dataset, ...run.method.args, ...(run.variant?.args ?? []),
    ...(run.method.language === false ? [] : run.plan.measure),
    ...(run.lambda === null ? [] : ['--lambda', String(run.lambda)]),
    '--select', run.method.select ?? 'val-cf', '--epochs', '30', '--seed', String(run.seed), '--out', run.dir, '--no-progress'];
  if (DRY) { console.log(`node ${args.join(' ')}`); return Promise.resolve(); }
  if (readRunResult(run.dir)) return Promise.resolve();
  // a diverged run is a result; resuming it would repeat the same divergence (same seed, same numbers): delete its
  // folder to train it again (e.g. after a fix)
  if (readRunDiverged(run.dir)) { console.log(`diverged earlier, kept as a result: ${path.relative(RUNS, run.dir)}`); return Promise.resolve(); }
  // a trainer already working on this folder (an earlier study process): wait for it instead of racing it
  const busy = () => spawnSync('pgrep', ['-f', `runs/study/${path.relative(RUNS, run.dir)} `], { encoding: 'utf8' }).stdout.trim() !== '';
  if (busy()) {
    console.log(`waiting for the trainer already in ${path.relative(RUNS, run.dir)}`);
    return new Promise((resolve) => {
      const t = setInterval(() => { if (!busy()) { clearInterval(t); resolve(readRunResult(run.dir) ? undefined : train(run)); } }, 10_000);
    });
  }
  fs.mkdirSync(run.dir, { recursive: true });
  // the code of every start (a resumed run lists each)
  const codeFile = path.join(run.dir, 'code.json');
  const started = fs.existsSync(codeFile) ? JSON.parse(fs.readFileSync(codeFile, 'utf8')) as Array<typeof CODE> : [];
  fs.writeFileSync(codeFile, JSON.stringify([...started, CODE], null, 2) + '\n');
  const log = fs.openSync(runFiles(run.dir).trainLog, 'a');
  const t0 = Date.now();
  console.log(`start ${path.relative(RUNS, run.dir)}`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', log, log] });
    child.on('exit', (code) => {
      fs.closeSync(log);
      const r = readRunResult(run.dir);
      const d = r ? undefined : readRunDiverged(run.dir);
      console.log(`${code === 0 && r ? 'done ' : d ? `DIVERGED in epoch ${d.divergedInEpoch + 1}` : `FAILED (exit ${code})`} ${path.relative(RUNS, run.dir)} in ${((Date.now() - t0) / 1000).toFixed(0)} s` +
        (r ? `: val ${(100 * r.valAccSelected).toFixed(2)} val-cf ${typeof r.valCfAccSelected === 'number' ? (100 * r.valCfAccSelected).toFixed(2) : 'n/a'} % (test ${(100 * r.testAccSelected).toFixed(2)})` : ''));
      resolve();
    });
  });
}

/** A small pool: at most JOBS trainings at once, the lowest priority number first; a job may add jobs when it ends. */
class Pool {
  private queue: Array<{ job: () => Promise<void>; priority: number; order: number }> = [];
  private active = 0;
  private added = 0;
  private done!: () => void;
  readonly finished = new Promise<void>((r) => { this.done = r; });
  add(job: () => Promise<void>, priority: number): void {
    this.queue.push({ job, priority, order: this.added++ });
    this.queue.sort((a, b) => a.priority - b.priority || a.order - b.order);
    this.pump();
  }
  private pump(): void {
    while (this.active < JOBS && this.queue.length) {
      const { job } = this.queue.shift()!;
      this.active++;
      job().finally(() => { this.active--; this.pump(); if (!this.active && !this.queue.length) this.done(); });
    }
  }
}

/** Copies a run's result.json (or, for a run that diverged, its diverged.json) to docs/results. */
function publish(run: Run): void {
  const which = readRunResult(run.dir) ? 'result' : readRunDiverged(run.dir) ? 'diverged' : undefined;
  if (!which) return;
  const dst = path.join(DOCS, run.plan.dataset, run.method.name, `seed-${run.seed}`);
  fs.mkdirSync(dst, { recursive: true });
  for (const f of ['result', 'diverged'] as const) fs.rmSync(runFiles(dst)[f], { force: true });
  fs.copyFileSync(runFiles(run.dir)[which], runFiles(dst)[which]);
  // which code made it (train() records it in the run folder): result.json is sealed, so the commit and the fused
  // kernel's hash sit beside it (two kernels that differ only in float rounding give different numbers for one seed)
  const code = path.join(run.dir, 'code.json');
  if (fs.existsSync(code)) fs.copyFileSync(code, path.join(dst, 'code.json'));
}

/** Removes a method's published seeds that are not (yet) results of the chosen settings' runs. */
function unpublishOthers(plan: DatasetPlan, m: Method, chosen: Run[]): void {
  if (DRY) return;
  const dir = path.join(DOCS, plan.dataset, m.name);
  if (!fs.existsSync(dir)) return;
  for (const seedDir of fs.readdirSync(dir)) {
    const run = chosen.find((r) => `seed-${r.seed}` === seedDir);
    const published = (['result', 'diverged'] as const).find((f) => fs.existsSync(runFiles(path.join(dir, seedDir))[f]));
    const src = run && published && runFiles(run.dir)[published];
    const dst = published && runFiles(path.join(dir, seedDir))[published];
    if (!src || !dst || !fs.existsSync(src) || !fs.readFileSync(src).equals(fs.readFileSync(dst))) {
      fs.rmSync(path.join(dir, seedDir), { recursive: true, force: true });
    }
  }
}

/** The commit of the checkout this study runs from and the SHA-256 of its fused kernel. */
const CODE = {
  commit: spawnSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).stdout.trim(),
  kernelSha256: createHash('sha256').update(fs.readFileSync(path.join(ROOT, 'lib', 'engines', 'fused', 'wasm', 'lenet_gap.wasm'))).digest('hex'),
};

async function main(): Promise<void> {
  const pool = new Pool();
  const plans = PLANS.filter((p) => !ONLY || ONLY.includes(p.dataset));
  // What was chosen, for the note and docs/results.md (written as runs finish).
  const chosenFile = path.join(DOCS, 'lambda-choices.json');
  // a study limited to some rows or datasets keeps the other rows' recorded choices
  const choices: Record<string, unknown> = fs.existsSync(chosenFile) ? JSON.parse(fs.readFileSync(chosenFile, 'utf8')) : {};
  const writeChoices = () => { if (!DRY) { fs.mkdirSync(DOCS, { recursive: true }); fs.writeFileSync(chosenFile, JSON.stringify(choices, null, 2) + '\n'); } };

  for (const plan of plans) {
    // the first run of a dataset makes (and caches) its prompt maps and attribute matrix; the rest wait for it
    const [first, ...rest] = plan.methods;
    const seedsOf = (m: Method) => SEEDS.slice(0, m.seeds ?? SEEDS.length);
    // every row's seed n before any row's seed n + 1 (a short study still ends with whole rows of fewer seeds)
    const prio = (m: Method, seedIndex: number) =>
      plan.priority + (seedIndex === 0 ? m.first : m.then + (m.allSeedsFirst ? 0 : 10 * (seedIndex - 1))) + seedIndex / 100;
    const firstRun: Run = { plan, method: first, lambda: null, seed: SEEDS[0], dir: runDir(plan, first, null, SEEDS[0]) };
    pool.add(async () => {
      await train(firstRun);
      // published, and its other seeds run, only when its row was asked for (--rows without it: seed 1 runs for the
      // maps alone; a rerun with another kernel must not replace the committed run of the same seed)
      if (!ROWS || ROWS.includes(first.name)) {
        publish(firstRun);
        seedsOf(first).slice(1).forEach((seed, i) => {
          const r: Run = { plan, method: first, lambda: null, seed, dir: runDir(plan, first, null, seed) };
          pool.add(async () => { await train(r); publish(r); }, prio(first, i + 1));
        });
      }
      rest.filter((m) => (!ROWS || ROWS.includes(m.name)) && !SKIP.includes(`${plan.dataset}/${m.name}`)).forEach((m) => {
        const lambdas = m.lambdas ?? [null];
        const scan: Run[] = [null, ...(m.variants ?? [])].flatMap((variant) =>
          lambdas.map((l) => ({ plan, method: m, lambda: l, variant, seed: SEEDS[0], dir: runDir(plan, m, l, SEEDS[0], variant) })));
        let left = scan.length;
        for (const s of scan) {
          pool.add(async () => {
            await train(s);
            if (--left > 0) return;
            // lambda (and variant) chosen on validation (seed 1 runs), then the other seeds; ties: the smaller lambda,
            // then the plain settings before a variant
            const scored = scan.map((x, order) => ({ x, order, r: readRunResult(x.dir) })).filter((s) => s.r);
            if (!scored.length) return;
            scored.sort((a, b) => valCf(b.r) - valCf(a.r) || (a.x.lambda ?? 0) - (b.x.lambda ?? 0) || a.order - b.order);
            const chosen = scored[0].x;
            choices[`${plan.dataset}/${m.name}`] = {
              lambda: chosen.lambda, ...(m.variants ? { variant: chosen.variant?.name ?? null } : {}),
              by: 'counterfactual validation accuracy (val-cf) of the selected epoch, seed ' + SEEDS[0],
              scan: scored.map((s) => ({ lambda: s.x.lambda, ...(m.variants ? { variant: s.x.variant?.name ?? null } : {}),
                valAccSelected: s.r.valAccSelected, valCfAccSelected: s.r.valCfAccSelected ?? null, valExcludedShareSelected: s.r.valExcludedShareSelected })),
            };
            writeChoices();
            const runOf = (seed: number): Run => ({ plan, method: m, lambda: chosen.lambda, variant: chosen.variant, seed, dir: runDir(plan, m, chosen.lambda, seed, chosen.variant) });
            // docs/results holds the chosen settings' seeds only: a seed published from an earlier choice goes now
            unpublishOthers(plan, m, SEEDS.map(runOf));
            publish(chosen);
            seedsOf(m).slice(1).forEach((seed, i) => {
              const r = runOf(seed);
              pool.add(async () => { await train(r); publish(r); }, prio(m, i + 1));
            });
          }, prio(m, 0));
        }
      });
    }, plan.priority - 1);
  }
  await pool.finished;
}

main().catch((e) => { console.error(e); process.exit(1); });
