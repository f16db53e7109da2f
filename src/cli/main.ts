/**
 * The `fedsec` command line. Each subcommand lives in its own module under ./commands and
 * registers itself on the program; this file only assembles them and turns errors into messages.
 */
import { Command, CommanderError } from 'commander';
import { FedsecError } from '../core/errors.js';
import { commands } from './commands/index.js';

export function buildProgram(): Command {
  const program = new Command('fedsec')
    .description('Federated learning that is secure by construction, with the red team that proves it.')
    .version('0.1.0')
    .showHelpAfterError()
    .exitOverride();
  for (const register of commands) register(program);
  return program;
}

export async function main(argv: readonly string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv]);
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander already printed the message (or help/version); keep its exit code.
      process.exitCode = err.exitCode;
      return;
    }
    if (err instanceof FedsecError) {
      process.stderr.write(`fedsec: ${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
}
