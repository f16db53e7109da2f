/**
 * `fedsec join --config participant.yaml`: take part in a federation as one participant. Dials out
 * to the coordinator over mutual TLS, trains on local data when asked, reconnects on transient
 * failures; exits 0 when the coordinator says training is finished. JSON logs go to stderr.
 */
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { readConfigFile } from '../../config/simulation.js';
import { jsonLogger } from '../../deploy/json-log.js';
import { runParticipant } from '../../deploy/participant-client.js';
import { parseParticipantConfig } from '../../deploy/participant-config.js';

export function register(program: Command): void {
  program
    .command('join')
    .description('join a federation as a participant: connect to the coordinator over mutual TLS and train on local data')
    .requiredOption('-c, --config <file>', 'participant config (YAML or JSON): coordinator address, certificate, local data (see docs/deployment.md)')
    .action(async (opts: { config: string }) => {
      const config = parseParticipantConfig(readConfigFile(opts.config), opts.config, dirname(opts.config));
      const log = jsonLogger();
      const summary = await runParticipant(config, log);
      const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
      console.log(`${summary.name}: ${summary.message} (${plural(summary.tasks, 'round')} trained over ${plural(summary.sessions, 'session')})`);
    });
}
