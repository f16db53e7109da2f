/**
 * `fedsec privacy epsilon|calibrate`: the RDP accountant from the command line, to plan a run's
 * privacy before starting it.
 */
import type { Command } from 'commander';
import { z } from 'zod';
import { fail } from '../../core/errors.js';
import { calibrateNoiseMultiplier } from '../../privacy/calibrate.js';
import { RdpAccountant } from '../../privacy/rdp-accountant.js';

/** A numeric option: the raw string must parse completely to a finite number in range. */
function numberOption(flag: string, check: (v: number) => boolean, expected: string) {
  return z.string().transform((raw, ctx) => {
    const v = raw.trim() === '' ? Number.NaN : Number(raw);
    if (!Number.isFinite(v) || !check(v)) {
      ctx.addIssue({ code: 'custom', message: `${flag} must be ${expected}, got '${raw}'` });
      return z.NEVER;
    }
    return v;
  });
}

const samplingRate = numberOption('--sampling-rate', (v) => v >= 0 && v <= 1, 'a number in [0, 1] (records sampled per step / total)');
const steps = numberOption('--steps', (v) => Number.isInteger(v) && v >= 0, 'a whole number ≥ 0');
const delta = numberOption('--delta', (v) => v > 0 && v < 1, 'a number in (0, 1), e.g. 1e-5');

const epsilonArgs = z.object({
  samplingRate,
  noiseMultiplier: numberOption('--noise-multiplier', (v) => v >= 0, 'a number ≥ 0 (noise std / clip norm)'),
  steps,
  delta,
  json: z.boolean().default(false),
});

const calibrateArgs = z.object({
  epsilon: numberOption('--epsilon', (v) => v > 0, 'a positive number'),
  delta,
  samplingRate,
  steps,
  json: z.boolean().default(false),
});

function parseArgs<T extends z.ZodType>(schema: T, options: unknown): z.output<T> {
  const parsed = schema.safeParse(options);
  if (!parsed.success) fail('config', parsed.error.issues.map((i) => i.message).join('; '));
  return parsed.data;
}

function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Round up to `digits` significant digits: printed ε and z must stay on the safe side. */
function ceilSig(x: number, digits = 6): string {
  if (!Number.isFinite(x) || x === 0) return String(x);
  const p = 10 ** (digits - 1 - Math.floor(Math.log10(Math.abs(x))));
  return (Math.ceil(x * p) / p).toPrecision(digits);
}

function fmtOrder(order: number | null): string {
  return order === null ? 'none' : String(order);
}

export function register(program: Command): void {
  const privacy = program
    .command('privacy')
    .description('Differential privacy planning: (ε, δ) of the Poisson-subsampled Gaussian mechanism (RDP accountant)');

  privacy
    .command('epsilon')
    .description('ε spent after T steps with sampling rate q and noise multiplier z')
    .requiredOption('--sampling-rate <q>', 'probability that each record (participant or example) is sampled per step')
    .requiredOption('--noise-multiplier <z>', 'Gaussian noise std divided by the clip norm')
    .requiredOption('--steps <T>', 'number of steps (rounds for client-level DP)')
    .requiredOption('--delta <δ>', 'target δ')
    .option('--json', 'print JSON')
    .action((opts: unknown) => {
      const a = parseArgs(epsilonArgs, opts);
      const acc = new RdpAccountant().compose({ noiseMultiplier: a.noiseMultiplier, samplingRate: a.samplingRate, steps: a.steps });
      const { epsilon, order } = acc.epsilon(a.delta);
      if (a.json) {
        print(JSON.stringify({ epsilon: Number.isFinite(epsilon) ? epsilon : null, delta: a.delta, order, samplingRate: a.samplingRate, noiseMultiplier: a.noiseMultiplier, steps: a.steps }));
      } else {
        print(`ε = ${ceilSig(epsilon)} at δ = ${a.delta} (best Rényi order ${fmtOrder(order)})`);
        print(`  q = ${a.samplingRate}, z = ${a.noiseMultiplier}, ${a.steps} steps; Poisson-subsampled Gaussian, RDP accountant`);
      }
    });

  privacy
    .command('calibrate')
    .description('smallest noise multiplier z keeping ε within a target after T steps')
    .requiredOption('--epsilon <ε>', 'target ε')
    .requiredOption('--delta <δ>', 'target δ')
    .requiredOption('--sampling-rate <q>', 'probability that each record is sampled per step')
    .requiredOption('--steps <T>', 'number of steps (rounds for client-level DP)')
    .option('--json', 'print JSON')
    .action((opts: unknown) => {
      const a = parseArgs(calibrateArgs, opts);
      const c = calibrateNoiseMultiplier({ epsilon: a.epsilon, delta: a.delta, samplingRate: a.samplingRate, steps: a.steps });
      if (a.json) {
        print(JSON.stringify({ noiseMultiplier: c.noiseMultiplier, epsilon: c.epsilon, order: c.order, targetEpsilon: a.epsilon, delta: a.delta, samplingRate: a.samplingRate, steps: a.steps }));
      } else {
        print(`noise multiplier z = ${ceilSig(c.noiseMultiplier, 8)} (reaches ε = ${ceilSig(c.epsilon)} ≤ ${a.epsilon} at δ = ${a.delta}, best Rényi order ${fmtOrder(c.order)})`);
        print(`  q = ${a.samplingRate}, ${a.steps} steps; z is within a relative 1e-6 of the smallest that fits`);
      }
    });
}
