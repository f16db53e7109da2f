/**
 * `fedsec attack leakage --config file [--out dir] [--seed s] [--quiet]`: privacy attacks
 * (gradient leakage, membership inference, model inversion) against fedsec's training, with and
 * without defences; writes results.json + report.html. See docs/leakage.md.
 */
import type { Command } from 'commander';
import { readConfigFile } from '../../config/simulation.js';
import { parseLeakageConfig } from '../../attacks/privacy/leakage-config.js';
import { runLeakageExperiments, writeLeakageOutputs } from '../../attacks/privacy/run-leakage.js';
import { formatTable } from '../progress.js';

interface LeakageOptions {
  config: string;
  out: string;
  seed?: string;
  quiet?: boolean;
}

export function register(program: Command): void {
  const attack = program.command('attack').description('red-team attacks run in simulation');
  attack
    .command('leakage')
    .description('privacy attacks (DLG/iDLG gradient inversion, membership inference, model inversion) with and without defences; writes results.json + report.html')
    .requiredOption('-c, --config <file>', 'experiment config (YAML or JSON), e.g. examples/leakage/gradient.yaml')
    .option('-o, --out <dir>', 'output directory', 'runs/leakage')
    .option('-s, --seed <seed>', 'override the seed (same seed → same simulation choices; DP noise is fresh every run)')
    .option('-q, --quiet', 'no progress output')
    .action(async (opts: LeakageOptions) => {
      const raw = readConfigFile(opts.config);
      const merged: Record<string, unknown> = { ...((raw ?? {}) as Record<string, unknown>) };
      if (opts.seed !== undefined) merged.seed = /^-?\d+$/.test(opts.seed) ? Number(opts.seed) : opts.seed;
      const config = parseLeakageConfig(merged, opts.config);
      const progress = opts.quiet ? () => {} : (line: string) => process.stderr.write(`${line}\n`);
      const results = await runLeakageExperiments(config, progress);
      const files = writeLeakageOutputs(results, opts.out);
      const g = results.gradientLeakage;
      if (g) {
        console.log(`\n${formatTable(
          ['defence', 'B', 'attack', 'PSNR dB', 'SSIM', 're-id', 'labels'],
          g.cells.filter((c) => !c.skipped).map((c) => [c.defence, String(c.batchSize), c.attack, c.psnrMean.toFixed(1), c.ssimMean.toFixed(3), `${(c.reidentification * 100).toFixed(0)}%`, `${(c.labelAccuracy * 100).toFixed(0)}%`]),
        )}`);
      }
      const m = results.membershipInference;
      if (m) {
        console.log(`\n${formatTable(
          ['setting', 'defence', 'target', 'attack', 'AUC', 'TPR@1%FPR', 'test acc'],
          m.rows.map((r) => [r.setting, r.defence, r.target, r.attack, r.auc.toFixed(3), `${(r.tprAt1PctFpr * 100).toFixed(1)}%`, `${(r.testAccuracy * 100).toFixed(1)}%`]),
        )}`);
      }
      const v = results.modelInversion;
      if (v) {
        console.log(`\n${formatTable(
          ['defence', 'test acc', 'SSIM', 'cosine', 'identified'],
          v.rows.map((r) => [r.defence, `${(r.testAccuracy * 100).toFixed(1)}%`, r.ssimMean.toFixed(3), r.cosineMean.toFixed(3), `${(r.identified * 100).toFixed(0)}%`]),
        )}`);
      }
      console.log(`\n${results.totalSeconds.toFixed(0)} s on ${results.runtime.backend}\nwrote ${files.results}\nwrote ${files.report}`);
    });
}
