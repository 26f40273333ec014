import * as path from 'node:path';
import type { Command } from 'commander';
import { writeFileAtomic } from '../util/atomic';
import { CSV_FILE, prepareOutDir, prepareOutFile } from '../util/outputs';
import { loadGridFile } from '../experiments/sweep/grid';
import { parseShard, selectShard } from '../experiments/sweep/shard';
import { planRuns, runSweep, type SweepEvent } from '../experiments/sweep/runner';
import { groupTableRows, loadSweep, runTableRows, sweepCsv, sweepJson } from '../experiments/sweep/report';
import { printJson, printTable } from './output';
import { intOption, numOption } from './options';

interface SweepCliOptions {
  grid: string;
  out: string;
  workers: string;
  shard?: string;
  json?: boolean;
  skipFailed?: boolean;
  staleAfter: string;
  dryRun?: boolean;
}

/** `ltl sweep` runs a grid of `ltl train` runs; `ltl sweep-report` tabulates a sweep folder. */
export function register(program: Command): void {
  program
    .command('sweep')
    .description(
      'Run every combination of a grid of `ltl train` options, each run in its own process under OUT/runs/<id>. ' +
        'Rerunning skips finished runs and resumes interrupted ones; --shard splits the sweep over independent jobs ' +
        '(e.g. a SLURM array) sharing OUT. Exits 1 if a run failed (the others still run).',
    )
    .requiredOption('--grid <file>', 'JSON object: train option (camelCase, e.g. attentionEpoch) -> array of values; or an array of such objects (runs united)')
    .requiredOption('--out <dir>', 'sweep folder (shared by all shards)')
    .option('--workers <n>', 'runs at a time on this machine, each in its own process', '1')
    .option('--shard <i/n>', 'run only shard I of N (0 <= I < N) of the sorted run list')
    .option('--skip-failed', 'do not retry runs that failed before')
    .option("--stale-after <sec>", "a run lock whose heartbeat is older than this is taken over (on this host: at once when its worker and trainer are gone, never while its trainer runs)", "120")
    .option('--dry-run', 'list the runs of this shard and exit')
    .option('--json', 'last stdout line: one JSON summary')
    .action(async (o: SweepCliOptions) => {
      const workers = intOption(o.workers, '--workers', 1)!;
      const staleSec = numOption(o.staleAfter, '--stale-after')!;
      const shard = o.shard !== undefined ? parseShard(o.shard) : undefined;
      // Grid keys and values are checked against the declared training options (lib/train/options.ts, which
      // `ltl train`'s flags come from), so typos fail before any run starts.
      const grids = loadGridFile(o.grid);
      const runs = planRuns(grids);
      if (!o.dryRun) prepareOutDir(o.out, '--out');

      if (o.dryRun) {
        const mine = shard ? selectShard(runs, shard) : runs;
        if (o.json) printJson({ total: runs.length, shard, runs: mine });
        else {
          console.log(`${mine.length} of ${runs.length} runs${shard ? ` (shard ${shard.index}/${shard.count})` : ''}:`);
          for (const r of mine) console.log(`${r.id}  ${JSON.stringify(r.config)}`);
        }
        return;
      }

      // Ctrl-C / scancel: stop starting runs, stop the trainers (they resume from checkpoints on rerun).
      const abort = new AbortController();
      let gotSignal: NodeJS.Signals | undefined;
      const onSignal = (s: NodeJS.Signals) => {
        if (gotSignal) return;
        gotSignal = s;
        process.stderr.write(`ltl sweep: ${s}: stopping the running trainers; rerun the same command to resume\n`);
        abort.abort();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      const t0 = Date.now();
      let summary;
      try {
        summary = await runSweep({
          outDir: o.out,
          runs,
          grids,
          workers,
          shard,
          retryFailed: !o.skipFailed,
          staleMs: staleSec * 1000,
          signal: abort.signal,
          onEvent: logEvent,
        });
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
      const c = summary.counts;
      const seconds = (Date.now() - t0) / 1000;
      if (o.json) {
        printJson({ outDir: summary.outDir, total: summary.total, shard: summary.shard ?? null, selected: summary.selected, counts: c, interrupted: summary.interrupted, seconds, outcomes: summary.outcomes });
      } else {
        console.log(
          `sweep ${path.relative(process.cwd(), summary.outDir) || '.'}: ${summary.selected} of ${summary.total} runs` +
            `${shard ? ` (shard ${shard.index}/${shard.count})` : ''} in ${seconds.toFixed(1)} s: ` +
            `${c.done} done now, ${c['skipped-done']} already done, ${c.failed} failed, ${c.interrupted} interrupted, ` +
            `${c['skipped-busy']} held by other workers${c['skipped-failed'] ? `, ${c['skipped-failed']} failed before (skipped)` : ''}`,
        );
        for (const f of summary.outcomes.filter((x) => x.status === 'failed')) console.log(`failed ${f.id}: ${firstLine(f.error)}`);
        console.log(`table: ltl sweep-report ${o.out}`);
      }
      if (gotSignal) process.exitCode = gotSignal === 'SIGINT' ? 130 : 143;
      else if (c.failed > 0) process.exitCode = 1;
    });

  program
    .command('sweep-report')
    .description('Table of every run of a sweep folder (varying config, status, results) and mean +- std over seeds per setting')
    .argument('<dir>', 'sweep folder (the --out of `ltl sweep`)')
    .option('--csv <file>', 'also write one CSV row per run (all config keys, metrics, error)')
    .option('--json', 'last stdout line: {"runs": [...], "groups": [...]}')
    .action((dir: string, o: { csv?: string; json?: boolean }) => {
      if (o.csv) prepareOutFile(o.csv, '--csv', CSV_FILE);
      const sweep = loadSweep(dir);
      if (o.csv) writeFileAtomic(o.csv, sweepCsv(sweep));
      if (o.json) {
        printJson(sweepJson(sweep));
        return;
      }
      const n = (s: string) => sweep.runs.filter((r) => r.status === s).length;
      console.log(`${sweep.runs.length} runs: ${n('done')} done, ${n('failed')} failed, ${n('pending')} pending\n`);
      printTable(runTableRows(sweep));
      console.log('\nmean +- std over seeds (sample std; done runs only):');
      printTable(groupTableRows(sweep));
      for (const r of sweep.runs.filter((x) => x.status === 'failed')) console.log(`\nfailed ${r.id}: ${r.error ?? ''}`);
      if (o.csv) console.log(`\nwrote ${o.csv}`);
    });
}

function firstLine(s: string | undefined): string {
  return (s ?? '').split('\n')[0];
}

/** One line per event on stderr (readable in SLURM logs, unlike a progress bar). */
function logEvent(e: SweepEvent): void {
  const t = new Date().toISOString().slice(11, 19);
  if (e.type === 'start') {
    process.stderr.write(`${t} [w${e.worker}] start ${e.id} (attempt ${e.attempt})${e.tookOverFrom ? ` taking over a stale lock: ${e.tookOverFrom}` : ''}\n`);
  } else {
    const o = e.outcome;
    const extra = o.seconds !== undefined ? ` ${o.seconds.toFixed(1)} s` : '';
    process.stderr.write(`${t} [w${e.worker}] ${e.finished}/${e.total} ${o.status} ${o.id}${extra}${o.status === 'failed' ? `: ${firstLine(o.error)}` : ''}\n`);
  }
}
