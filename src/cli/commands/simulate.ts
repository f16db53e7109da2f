/**
 * `fedsec simulate [--config file] [--rounds N] [--seed S] [--out DIR]`
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { parseSimulationConfig, readConfigFile } from '../../config/simulation.js';
import { runSimulation } from '../../federation/simulation.js';
import { writeSimulationOutputs } from '../../report/simulation-report.js';
import { formatTable, ProgressReporter } from '../progress.js';

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

interface SimulateOptions {
  config?: string;
  rounds?: number;
  seed?: string;
  out: string;
  workers?: number;
  quiet?: boolean;
}

export function register(program: Command): void {
  program
    .command('simulate')
    .description('run a federation of simulated participants on this machine and write results.json + report.html')
    .option('-c, --config <file>', 'simulation config (YAML or JSON); defaults: MNIST, 10 participants, Dirichlet α=0.5, MLP')
    .option('-r, --rounds <n>', 'override the number of rounds', positiveInt)
    .option('-s, --seed <seed>', 'override the seed (same seed → same results)')
    .option('-w, --workers <n>', 'worker threads training participants (0 = main thread)', (v) => (v === '0' ? 0 : positiveInt(v)))
    .option('-o, --out <dir>', 'output directory', 'runs/latest')
    .option('-q, --quiet', 'no progress output')
    .action(async (opts: SimulateOptions) => {
      const raw = (opts.config ? readConfigFile(opts.config) : {}) as Record<string, unknown> | null;
      const merged: Record<string, unknown> = { ...(raw ?? {}) };
      if (opts.rounds !== undefined) merged.rounds = opts.rounds;
      if (opts.seed !== undefined) merged.seed = /^-?\d+$/.test(opts.seed) ? Number(opts.seed) : opts.seed;
      if (opts.workers !== undefined) merged.runtime = { ...((merged.runtime as object | undefined) ?? {}), workers: opts.workers };
      const config = parseSimulationConfig(merged, opts.config ?? 'default config');

      const result = await runSimulation(config, opts.quiet ? [] : [new ProgressReporter()], { outDir: opts.out });
      const files = writeSimulationOutputs(result, opts.out);

      const pct = (v: number): string => `${(v * 100).toFixed(2)}%`;
      const shown = result.rounds.length <= 25 ? result.rounds : result.rounds.filter((r, i) => i % Math.ceil(result.rounds.length / 20) === 0 || i === result.rounds.length - 1);
      console.log(`\n${formatTable(
        ['round', 'accuracy', 'loss', 'updates', 'time'],
        shown.map((r) => [String(r.round), pct(r.evaluation.accuracy), r.evaluation.loss.toFixed(4), `${r.participants.filter((p) => p.ok).length}/${r.sampled.length}`, `${(r.timings.totalMs / 1000).toFixed(1)} s`]),
      )}`);
      const final = result.rounds.find((r) => r.round === result.finalRound)?.evaluation ?? result.initial;
      if (result.stopped) console.log(`\nstopped before round ${result.stopped.round}: ${result.stopped.reason}`);
      console.log(`\nfinal model (round ${result.finalRound}): accuracy ${pct(final.accuracy)}, loss ${final.loss.toFixed(4)} — ${(result.totalMs / 1000).toFixed(1)} s on ${result.runtime.backend}`);
      console.log(`wrote ${files.results}\nwrote ${files.report}`);
    });
}
