/**
 * `fedsec matrix --config file [--out DIR] [--quiet]`: every (defence, attack) pair of the config,
 * over its seeds; prints each cell as it finishes and the table each time a row completes, then
 * writes results.json, matrix.md and report.html.
 */
import type { Command } from 'commander';
import { readConfigFile } from '../../config/simulation.js';
import type { CellRun } from '../../federation/matrix.js';
import { runMatrix } from '../../federation/matrix.js';
import { parseMatrixConfig } from '../../federation/matrix-config.js';
import { matrixTable, writeMatrixOutputs } from '../../report/matrix-report.js';
import { formatTable } from '../progress.js';

interface MatrixOptions {
  config: string;
  out: string;
  quiet?: boolean;
}

const pct = (v: number): string => (Number.isFinite(v) ? `${(v * 100).toFixed(1)}%` : '—');

function cellLine(run: CellRun, done: number, total: number): string {
  const head = `[${String(done).padStart(String(total).length)}/${total}] ${run.defence} × ${run.attack} (seed ${run.seed}):`;
  if (run.error !== undefined) return `${head} error: ${run.error}`;
  const asr = run.finalAttackSuccessRate !== undefined ? `  ASR ${pct(run.finalAttackSuccessRate)}` : '';
  const flags = run.flagRecall !== undefined ? `  flag recall ${run.flagRecall.toFixed(2)}${run.flagPrecision !== undefined ? ` precision ${run.flagPrecision.toFixed(2)}` : ''}` : '';
  const skipped = run.skippedRounds > 0 ? `  (${run.skippedRounds} round(s) refused)` : '';
  return `${head} accuracy ${pct(run.finalAccuracy)}${asr}${flags}${skipped}  ${(run.ms / 1000).toFixed(1)} s`;
}

export function register(program: Command): void {
  program
    .command('matrix')
    .description('run every (defence, attack) pair of a matrix config and write results.json, matrix.md and report.html')
    .requiredOption('-c, --config <file>', 'matrix config (YAML or JSON): base simulation, defences, attacks, threat, seeds; see examples/matrix.yaml')
    .option('-o, --out <dir>', 'output directory', 'runs/matrix')
    .option('-q, --quiet', 'no progress output')
    .action(async (opts: MatrixOptions) => {
      const plan = parseMatrixConfig(readConfigFile(opts.config), opts.config);
      const log = (s: string): void => {
        if (!opts.quiet) process.stderr.write(`${s}\n`);
      };
      log(`${plan.defences.length} defences × ${plan.attacks.length} attacks × ${plan.seeds.length} seed(s) = ${plan.cells.length} runs, ${plan.parallel.cells} at a time with ${plan.parallel.workersPerCell} worker(s) each`);
      const runs: (CellRun | undefined)[] = new Array<CellRun | undefined>(plan.cells.length);
      const rowsShown = new Set<string>();
      const result = await runMatrix(plan, {
        onCellDone(run, done, total, index) {
          runs[index] = run;
          log(cellLine(run, done, total));
          // Each time a defence's row is complete, show the table so far.
          const complete = plan.defences.filter((d) => plan.cells.every((c, i) => c.defence.label !== d.label || runs[i] !== undefined));
          if (complete.some((d) => !rowsShown.has(d.label)) && done < total) {
            complete.forEach((d) => rowsShown.add(d.label));
            const t = matrixTable(plan, runs, 'accuracy');
            log(`\n${formatTable(t.header, t.rows)}\n`);
          }
        },
      });
      const files = writeMatrixOutputs(result, opts.out);
      const acc = matrixTable(plan, result.runs, 'accuracy');
      console.log(`\nfinal held-out accuracy (%)\n${formatTable(acc.header, acc.rows)}`);
      const asr = matrixTable(plan, result.runs, 'attackSuccessRate');
      if (asr.header.length > 1) console.log(`\nattack success rate (%)\n${formatTable(asr.header, asr.rows)}`);
      const errors = result.runs.filter((r) => r.error !== undefined).length;
      if (errors > 0) console.log(`\n${errors} run(s) failed; see ${files.markdown}`);
      console.log(`\n${result.runs.length} runs in ${(result.totalMs / 60_000).toFixed(1)} min\nwrote ${files.results}\nwrote ${files.markdown}\nwrote ${files.report}`);
    });
}
