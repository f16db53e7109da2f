/**
 * `fedsec serve --config coordinator.yaml [--rounds N]`: run the coordinator of a real federation
 * (mTLS, admission, durable store, audit log). Structured JSON logs go to stderr; the round table
 * and where the state lives go to stdout at the end.
 */
import { dirname, isAbsolute, relative } from 'node:path';
import type { Command } from 'commander';
import { readConfigFile } from '../../config/simulation.js';
import { parseCoordinatorConfig } from '../../deploy/coordinator-config.js';
import { CoordinatorService } from '../../deploy/coordinator-service.js';
import { jsonLogger } from '../../deploy/json-log.js';
import { formatTable } from '../progress.js';
import { positiveInt } from './simulate.js';

export function register(program: Command): void {
  program
    .command('serve')
    .description('run the coordinator: participants join over mutual TLS, rounds run with the same engine as simulate, state and audit log persist')
    .requiredOption('-c, --config <file>', 'coordinator config (YAML or JSON): simulate fields + a deploy: section (see docs/deployment.md)')
    .option('-r, --rounds <n>', 'override the number of rounds', positiveInt)
    .action(async (opts: { config: string; rounds?: number }) => {
      const raw = readConfigFile(opts.config);
      const merged = opts.rounds === undefined || typeof raw !== 'object' || raw === null ? raw : { ...(raw as Record<string, unknown>), rounds: opts.rounds };
      const config = parseCoordinatorConfig(merged, opts.config, dirname(opts.config));
      const log = jsonLogger();
      const service = await CoordinatorService.start(config, log);
      const onSignal = (signal: NodeJS.Signals): void => {
        log.warn('coordinator.stopping', { signal });
        void service.stop().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
      };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        const summary = await service.run();
        const pct = (v: number): string => `${(v * 100).toFixed(2)}%`;
        if (summary.alreadyComplete) {
          console.log(`all ${summary.rounds} rounds are already committed in ${summary.store}; nothing to do (raise rounds to continue training)`);
        } else {
          const rows = summary.completed.map((r) => [String(r.round), pct(r.evaluation.accuracy), r.evaluation.loss.toFixed(4), `${r.participants.filter((p) => p.ok).length}/${r.sampled.length}`, `${(r.timings.totalMs / 1000).toFixed(2)} s`, r.skipped ? 'skipped' : r.promoted ? 'promoted' : 'rejected']);
          if (summary.initial) console.log(`initial model: accuracy ${pct(summary.initial.accuracy)}, loss ${summary.initial.loss.toFixed(4)}${summary.startRound > 1 ? ` (resumed at round ${summary.startRound})` : ''}`);
          console.log(formatTable(['round', 'accuracy', 'loss', 'updates', 'time', 'model'], rows));
          console.log(`final model: round ${summary.finalRound}`);
        }
        // Paths as the user would type them from here.
        const shown = (p: string): string => {
          const rel = relative(process.cwd(), p);
          return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : p;
        };
        const store = shown(summary.store);
        const audit = shown(summary.auditLog);
        console.log(`store: ${store}\naudit log: ${audit} (check it with: fedsec audit verify --log ${audit} --store ${store})`);
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        await service.stop();
      }
    });
}
