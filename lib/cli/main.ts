import { Command, CommanderError } from 'commander';
import { UserError } from '../util/errors';
import { register as registerData } from './data';
import { register as registerTrain } from './train';
import { register as registerMaps } from './maps';
import { register as registerVlm } from './vlm';
import { register as registerSweep } from './sweep';

/** Builds the `ltl` command tree; each command lives in its own module. */
export function buildProgram(): Command {
  const program = new Command('ltl')
    .description('Learning to look: language-derived attention maps that teach CNNs to ignore shortcuts')
    .showHelpAfterError()
    .exitOverride();
  registerData(program);
  registerTrain(program);
  registerMaps(program);
  registerVlm(program);
  registerSweep(program);
  return program;
}

/** Runs the CLI: user errors become one line on stderr and exit code 1, with no stack trace. */
export async function main(argv = process.argv): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode;
      return;
    }
    if (e instanceof UserError) {
      process.stderr.write(`ltl: error: ${e.message}\n`);
      process.exitCode = 1;
      return;
    }
    process.stderr.write(`ltl: internal error: ${(e as Error).stack ?? e}\n`);
    process.exitCode = 2;
  }
}
