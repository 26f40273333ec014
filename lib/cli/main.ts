import { Command, CommanderError } from 'commander';
import { formatCliError } from '../util/errors';
import '../vlm/register'; // the VLM map sources (embedded, clipseg), loaded when first used
import { register as registerData } from './data';
import { register as registerTrain } from './train';
import { register as registerMaps } from './maps';
import { register as registerVlm } from './vlm';
import { register as registerSweep } from './sweep';
import { register as registerDiagnose } from './diagnose';

/** Builds the `ltl` command tree; each command lives in its own module. */
export function buildProgram(): Command {
  const program = new Command('ltl')
    .description('Learning to look: language-derived attention maps that teach CNNs to ignore shortcuts')
    .exitOverride();
  registerData(program);
  registerTrain(program);
  registerMaps(program);
  registerVlm(program);
  registerSweep(program);
  registerDiagnose(program);
  addUsageHints(program);
  return program;
}

/**
 * A usage error (an unknown or incomplete option) is the parser's one `error: ...` line and one hint naming the command
 * whose help lists its options, not the whole help (150 lines that push the error off the screen). Set on every
 * command after they are all registered, since the hint names each one (`ltl vlm eval --help`).
 */
function addUsageHints(cmd: Command, path: string[] = []): void {
  const words = ['ltl', ...path];
  cmd.showHelpAfterError(`(run "${[...words, '--help'].join(' ')}" for its ${cmd.commands.length ? 'commands' : 'options'})`);
  for (const sub of cmd.commands) addUsageHints(sub, [...path, sub.name()]);
}

/**
 * Runs the CLI. One rule for errors: anything a user can cause or fix (bad input, a damaged file,
 * file system, permissions, disk full) is one line on stderr and exit code 1; other errors are
 * internal (exit 2). Stack traces only with LTL_DEBUG=1 (lib/util/errors formatCliError).
 */
export async function main(argv = process.argv): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode;
      return;
    }
    const { text, exitCode } = formatCliError(e);
    process.stderr.write(text);
    process.exitCode = exitCode;
  }
}
