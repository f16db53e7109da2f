/**
 * The `privacy` section of a simulation config and its resolution into concrete parameters.
 *
 * mode 'client': client-level DP-FedAvg (clip each participant's update, Gaussian noise on the
 * aggregate, one accountant step per round with q = participants sampled / population).
 * mode 'sample': example-level DP-SGD inside local training (one accountant per participant, one
 * step per Poisson batch; see dp-sgd.ts). Each participant enforces its own ε ceiling
 * (`participantEpsilon[id]`, else `epsilon`) by refusing rounds that would exceed it.
 *
 * Either `noiseMultiplier` is given (ε is then tracked, and enforced if `epsilon` is also given),
 * or `epsilon` alone, and the noise multiplier is calibrated so the planned rounds fit in it.
 */
import { z } from 'zod';
import { fail } from '../core/errors.js';
import { updateNoiseMultiplier } from './adaptive-clipping.js';
import { calibrateNoiseMultiplier } from './calibrate.js';
import { computeRdp, DEFAULT_ORDERS, epsilonFromRdp } from './rdp-accountant.js';

const positive = (what: string) =>
  z.number({ error: `${what} must be a number` }).refine((v) => Number.isFinite(v) && v > 0, `${what} must be a positive number`);

export const adaptiveClippingConfigSchema = z
  .object({
    targetQuantile: z
      .number({ error: 'targetQuantile must be a number' })
      .gt(0, 'targetQuantile must be in (0, 1); the paper uses 0.5')
      .lt(1, 'targetQuantile must be in (0, 1); the paper uses 0.5')
      .default(0.5),
    learningRate: positive('learningRate').default(0.2),
    /** σ_b, the std of the noise on the count of participants within the clip norm; default m/20. */
    countNoiseStd: positive('countNoiseStd').optional(),
  })
  .strict();

export const dpConfigSchema = z
  .object({
    mode: z.enum(['client', 'sample'], {
      error: "mode must be 'client' (DP-FedAvg, participant-level) or 'sample' (DP-SGD, example-level)",
    }),
    epsilon: positive('epsilon').optional(),
    delta: z
      .number({ error: 'delta must be a number' })
      .gt(0, 'delta must be in (0, 1); use at most 1/(number of records), e.g. 1e-5')
      .lt(1, 'delta must be in (0, 1); use at most 1/(number of records), e.g. 1e-5'),
    noiseMultiplier: positive('noiseMultiplier').optional(),
    clipNorm: positive('clipNorm'),
    adaptiveClipping: adaptiveClippingConfigSchema.optional(),
    samplingRate: z
      .number({ error: 'samplingRate must be a number' })
      .gt(0, 'samplingRate must be in (0, 1]')
      .lte(1, 'samplingRate must be in (0, 1]')
      .optional(),
    /** mode 'sample': a participant's own ε ceiling (participant id → ε), overriding `epsilon`. */
    participantEpsilon: z.record(z.string().min(1), positive('participantEpsilon values')).optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.noiseMultiplier === undefined && c.epsilon === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['noiseMultiplier'],
        message:
          'give noiseMultiplier (ε is then computed per round) or epsilon (the noise multiplier is calibrated to the planned rounds), or both (ε is then a hard budget)',
      });
    }
    if (c.mode === 'client' && c.participantEpsilon) {
      ctx.addIssue({
        code: 'custom',
        path: ['participantEpsilon'],
        message: "participantEpsilon applies to sample-level DP (mode 'sample'): with client-level DP every participant has the same ε; use epsilon",
      });
    }
    if (c.mode === 'sample' && c.adaptiveClipping) {
      ctx.addIssue({
        code: 'custom',
        path: ['adaptiveClipping'],
        message: "adaptiveClipping applies to client-level DP (mode 'client'); remove it for mode 'sample'",
      });
    }
  });

export type DpConfig = z.infer<typeof dpConfigSchema>;

/** Validate the privacy section; all problems in one message, each with its path. */
export function parseDpConfig(input: unknown, where = 'privacy'): DpConfig {
  const parsed = dpConfigSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((i) => `${[where, ...i.path.map(String)].join('.')}: ${i.message}`);
  fail('config', `invalid privacy config:\n  ${lines.join('\n  ')}`);
}

/** What the engine knows about the run, needed to turn the config into numbers. */
export interface DpPlan {
  /** Planned rounds. */
  readonly rounds: number;
  /** Accountant steps per round: 1 for mode 'client'; batches per round for DP-SGD. */
  readonly stepsPerRound?: number;
  /**
   * Sampling rate when the config does not fix one: participants per round / population for
   * 'client', batch size / local examples for 'sample'.
   */
  readonly samplingRate?: number;
  /** Population N (mode 'client'): m = q·N is the DP-FedAvg denominator. */
  readonly population?: number;
}

export interface ResolvedDp {
  readonly mode: 'client' | 'sample';
  readonly delta: number;
  /** Hard ε budget, if any (the budget guard stops training before exceeding it). */
  readonly epsilonBudget: number | undefined;
  /** z recorded by the accountant each step. */
  readonly noiseMultiplier: number;
  /** True when z was calibrated from the ε target. */
  readonly calibrated: boolean;
  readonly samplingRate: number;
  readonly steps: number;
  /** ε after all planned steps (δ as above), and the best order. */
  readonly plannedEpsilon: number;
  readonly plannedOrder: number | null;
  readonly clipNorm: number;
  /** m = q·N (mode 'client'). */
  readonly expectedParticipants: number | undefined;
  readonly adaptiveClipping:
    | {
        readonly targetQuantile: number;
        readonly learningRate: number;
        readonly countNoiseStd: number;
        /** z_Δ for the update noise (> noiseMultiplier). */
        readonly updateNoiseMultiplier: number;
      }
    | undefined;
}

export function resolveDpConfig(config: DpConfig, plan: DpPlan): ResolvedDp {
  if (!Number.isInteger(plan.rounds) || plan.rounds < 1) fail('config', `planned rounds must be a whole number ≥ 1, got ${plan.rounds}`);
  const stepsPerRound = plan.stepsPerRound ?? 1;
  if (!Number.isInteger(stepsPerRound) || stepsPerRound < 1) fail('config', `steps per round must be a whole number ≥ 1, got ${stepsPerRound}`);
  if (config.mode === 'client' && stepsPerRound !== 1) {
    fail('config', `mode 'client' releases one noised aggregate per round, got ${stepsPerRound} steps per round`);
  }
  const q = config.samplingRate ?? plan.samplingRate;
  if (q === undefined) {
    fail('config', 'the privacy accountant needs a sampling rate', 'set privacy.samplingRate, or the number of participants sampled per round');
  }
  if (!(q > 0 && q <= 1)) fail('config', `sampling rate must be in (0, 1], got ${q}`);
  const steps = plan.rounds * stepsPerRound;

  let expectedParticipants: number | undefined;
  if (config.mode === 'client') {
    const n = plan.population;
    if (n === undefined || !Number.isInteger(n) || n < 1) {
      fail('config', `DP-FedAvg needs the number of participants to compute m = q·N, got ${n}`);
    }
    expectedParticipants = q * n;
  }

  let noiseMultiplier: number;
  let calibrated = false;
  if (config.noiseMultiplier !== undefined) noiseMultiplier = config.noiseMultiplier;
  else {
    // epsilon is present: the schema guarantees one of the two.
    const target = config.epsilon ?? fail('internal', 'privacy config has neither noiseMultiplier nor epsilon');
    noiseMultiplier = calibrateNoiseMultiplier({ epsilon: target, delta: config.delta, samplingRate: q, steps }).noiseMultiplier;
    calibrated = true;
  }

  const planned = epsilonFromRdp(
    DEFAULT_ORDERS,
    computeRdp({ noiseMultiplier, samplingRate: q, steps }),
    config.delta,
  );
  // planned ε above a given budget is not an error: the budget guard stops training early.

  let adaptive: ResolvedDp['adaptiveClipping'];
  if (config.adaptiveClipping) {
    const m = expectedParticipants ?? fail('internal', 'adaptive clipping without m');
    const countNoiseStd = config.adaptiveClipping.countNoiseStd ?? m / 20;
    adaptive = {
      targetQuantile: config.adaptiveClipping.targetQuantile,
      learningRate: config.adaptiveClipping.learningRate,
      countNoiseStd,
      updateNoiseMultiplier: updateNoiseMultiplier(noiseMultiplier, countNoiseStd),
    };
  }

  return {
    mode: config.mode,
    delta: config.delta,
    epsilonBudget: config.epsilon,
    noiseMultiplier,
    calibrated,
    samplingRate: q,
    steps,
    plannedEpsilon: planned.epsilon,
    plannedOrder: planned.order,
    clipNorm: config.clipNorm,
    expectedParticipants,
    adaptiveClipping: adaptive,
  };
}
