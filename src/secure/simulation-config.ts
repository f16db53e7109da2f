/**
 * The `secureAggregation` section of a simulation config, and what both sides derive from it:
 * the shape of a session of n participants (degree k, threshold t, minSurvivors) and the policy a
 * participant checks every session against. Participants rebuild the policy from the config alone
 * (worker threads do), so a coordinator that proposes weaker parameters is refused.
 */
import { z } from 'zod';
import { fail } from '../core/errors.js';
import type { SimulationConfig } from '../config/simulation.js';
import { resolveDpConfig } from '../privacy/config.js';
import { MAX_DEGREE } from './config.js';
import { SECAGG_STAGES } from './messages.js';
import { defaultDegree, defaultThreshold, suggestDegree } from './neighbour-graph.js';
import type { SecAggParticipantPolicy } from './participant-driver.js';

/** Where a simulated dropout happens: before training, or from a SecAgg stage on. */
export const DROPOUT_STAGES = ['train', ...SECAGG_STAGES] as const;
export type DropoutStage = (typeof DROPOUT_STAGES)[number];

/** Default quantisation range [−c, c] without DP: wide (MLP deltas on MNIST stay below 0.3), and at 32 bits a step is still < 10⁻⁷. */
export const DEFAULT_CLIP = 8;

export const simulateDropoutsSchema = z
  .strictObject({
    /** Each sampled participant drops independently with this probability (seeded, reproducible). */
    rate: z.number({ error: 'simulateDropouts.rate must be a number' }).min(0, 'rate must be in [0, 1)').lt(1, 'rate must be in [0, 1)').optional(),
    /** …or exactly these participants drop (every round in the window). */
    participants: z.array(z.string().min(1)).min(1, 'list at least one participant id').optional(),
    /** The stage from which a dropped participant stops answering. */
    stage: z.enum(DROPOUT_STAGES, { error: `stage must be one of ${DROPOUT_STAGES.join(', ')}` }).default('masked-input'),
    fromRound: z.number().int().min(1).default(1),
    toRound: z.number().int().min(1).optional(),
  })
  .refine((d) => (d.rate === undefined) !== (d.participants === undefined), { message: 'give exactly one of rate or participants' })
  .refine((d) => d.toRound === undefined || d.toRound >= d.fromRound, { message: 'toRound must be ≥ fromRound', path: ['toRound'] });

export const secureAggregationConfigSchema = z
  .strictObject({
    /** k, neighbours per participant (SecAgg+); capped at n − 1 per session (n − 1 is classic SecAgg). Default 2⌈log₂ n⌉, raised for simulateDropouts.rate. */
    degree: z.number().int().min(2, 'degree must be ≥ 2').max(MAX_DEGREE, `degree must be ≤ ${MAX_DEGREE} (Shamir shares over GF(2^8))`).optional(),
    /** t, shares needed to unmask; must exceed k/2. Default ⌊k/2⌋ + 1. */
    threshold: z.number().int().min(2, 'threshold must be ≥ 2').optional(),
    /** Quantisation range: each coordinate is clipped to [−clip, clip]. Default: privacy.clipNorm under client-level DP, else 8. */
    clip: z.number({ error: 'clip must be a number' }).positive('clip must be a positive number').finite('clip must be finite').optional(),
    /** m: sums live in Z_(2^m); more bits, more precision (and more bytes on the wire below 17 bits). */
    modulusBits: z.number().int('modulusBits must be an integer').min(8, 'modulusBits must be in [8, 32]').max(32, 'modulusBits must be in [8, 32]').default(32),
    /** Bucketed secure aggregation: one SecAgg session per bucket of ≥ bucketSize participants; the aggregator runs over bucket means. */
    bucketSize: z.number().int().min(3, 'bucketSize must be ≥ 3: each bucket is its own SecAgg session, which needs at least 3 participants').optional(),
    /** Weighting by samples: cap each participant's weight (sample count) at this value. */
    maxWeight: z.number().int().min(1).optional(),
    /** A session releases a sum only if at least this many masked inputs are in it. Default t + 1. */
    minSurvivors: z.number().int().min(3, 'minSurvivors must be ≥ 3').optional(),
    /** Deadline for each protocol step (not training); defaults to server.timeoutMs. */
    stageTimeoutMs: z.number().int().positive().optional(),
    /**
     * With privacy.mode 'client': participants add Gaussian noise shares (σ/√minSurvivors each)
     * before masking, so the coordinator only ever sees a noised sum; it adds no noise itself.
     */
    distributedNoise: z.boolean().default(false),
    /** Demonstrations and tests: make participants drop out of the protocol. */
    simulateDropouts: simulateDropoutsSchema.optional(),
  })
  .superRefine((c, ctx) => {
    if (c.degree !== undefined && c.threshold !== undefined) {
      if (c.threshold > c.degree) ctx.addIssue({ code: 'custom', path: ['threshold'], message: `threshold ${c.threshold} exceeds degree ${c.degree}; use 2 ≤ threshold ≤ degree` });
      else if (2 * c.threshold <= c.degree) {
        ctx.addIssue({
          code: 'custom',
          path: ['threshold'],
          message: `threshold ${c.threshold} must exceed degree/2 = ${c.degree / 2} (otherwise a malicious coordinator can unmask a participant); use threshold ≥ ${defaultThreshold(c.degree)}`,
        });
      }
    }
  });

export type SecureAggregationConfig = z.infer<typeof secureAggregationConfigSchema>;

export interface SessionShape {
  readonly degree: number;
  readonly threshold: number;
  readonly minSurvivors: number;
}

/**
 * k, t and minSurvivors for a session of n participants, or why no session of n can run.
 * `floor` raises minSurvivors (distributed noise is calibrated to it).
 */
export function sessionShape(cfg: SecureAggregationConfig, n: number, floor = 0): SessionShape | { readonly problem: string } {
  if (n < 3) return { problem: `a SecAgg session needs at least 3 participants, got ${n}` };
  const rate = cfg.simulateDropouts?.rate;
  let k = Math.min(cfg.degree ?? (rate !== undefined && rate > 0 ? suggestDegree(n, rate) : defaultDegree(n)), n - 1, MAX_DEGREE);
  // A k-regular graph on n vertices needs n·k even.
  if ((n * k) % 2 !== 0) k -= 1;
  const t = cfg.threshold ?? defaultThreshold(k);
  if (t > k) return { problem: `threshold ${t} exceeds the ${k} neighbours a session of ${n} participants can have; lower secureAggregation.threshold or use larger sessions` };
  if (2 * t <= k) return { problem: `threshold ${t} does not exceed k/2 = ${k / 2} for a session of ${n}; raise secureAggregation.threshold to ≥ ${defaultThreshold(k)}` };
  const minSurvivors = Math.max(cfg.minSurvivors ?? t + 1, floor);
  if (minSurvivors > n) return { problem: `a session of ${n} participants cannot reach minSurvivors = ${minSurvivors}; lower secureAggregation.minSurvivors or use larger sessions` };
  return { degree: k, threshold: t, minSurvivors };
}

/** Participants sampled per round as the config plans it (Poisson: its expectation, rounded down). */
export function plannedParticipantsPerRound(config: SimulationConfig): number {
  const s = config.sampling;
  return s.kind === 'all' ? config.participants : s.kind === 'fixed' ? s.perRound : Math.floor(s.rate * config.participants);
}

/** The session size the config plans for: the bucket size, or everyone sampled. */
export function plannedSessionSize(config: SimulationConfig): number {
  const cfg = config.secureAggregation ?? fail('internal', 'no secureAggregation section');
  return cfg.bucketSize ?? plannedParticipantsPerRound(config);
}

/** Read the section back (callers check it is there). */
export function secureSection(config: SimulationConfig): SecureAggregationConfig {
  return config.secureAggregation ?? fail('internal', 'secure aggregation is not configured');
}

/** Shape of a session of the planned size; a config that cannot run even one is refused here. */
export function plannedShape(config: SimulationConfig, floor = 0): SessionShape {
  const n = plannedSessionSize(config);
  const shape = sessionShape(secureSection(config), n, floor);
  if ('problem' in shape) fail('config', `secureAggregation: ${shape.problem}`, config.secureAggregation?.bucketSize ? 'use a larger bucketSize' : 'sample more participants per round');
  return shape;
}

export interface DistributedNoisePlan {
  /** σ = z·C: the noise std per coordinate every released sum must carry (DP-FedAvg's sum noise). */
  readonly sumStd: number;
  /** k_min: every released sum has at least this many survivors (each participant checks). */
  readonly minSurvivors: number;
  /** σ/√k_min: the std of each participant's share, so k_min honest shares already carry σ. */
  readonly shareStd: number;
  /** m = q·N, DP-FedAvg's fixed denominator. */
  readonly expectedParticipants: number;
}

/**
 * Distributed DP noise (secureAggregation.distributedNoise with privacy.mode 'client'): the same
 * z as the central mechanism (resolved exactly as the privacy feature resolves it), split over the
 * k_min survivors every released sum is guaranteed to have. Sums with more survivors carry more
 * noise than needed (variance |S|/k_min · σ²): the price of not trusting the coordinator with σ.
 */
export function distributedNoisePlan(config: SimulationConfig): DistributedNoisePlan | undefined {
  const cfg = secureSection(config);
  if (!cfg.distributedNoise) return undefined;
  const dp = config.privacy;
  if (dp?.mode !== 'client') {
    fail('config', 'secureAggregation.distributedNoise splits client-level DP noise among the participants, but privacy.mode is not client', "add privacy: { mode: client, … }, or remove distributedNoise");
  }
  const s = config.sampling;
  if (s.kind === 'fixed') fail('config', 'client-level DP needs Poisson sampling or sampling all', 'use sampling: { kind: poisson, rate } or { kind: all }');
  const q = s.kind === 'poisson' ? s.rate : 1;
  const resolved = resolveDpConfig(dp, { rounds: config.rounds, samplingRate: q, population: config.participants });
  const m = resolved.expectedParticipants ?? fail('internal', 'DP-FedAvg without m');
  const minSurvivors = cfg.minSurvivors ?? plannedShape(config).minSurvivors;
  const sumStd = resolved.noiseMultiplier * dp.clipNorm;
  return { sumStd, minSurvivors, shareStd: sumStd / Math.sqrt(minSurvivors), expectedParticipants: m };
}

/**
 * The quantisation range: secureAggregation.clip, else under client-level DP the L2 clip C (an
 * honestly clipped update has every |x_i| ≤ ‖x‖ ≤ C, so nothing is lost, and a dishonest one is
 * bounded coordinate-wise), widened by 7 share stds with distributed noise; else DEFAULT_CLIP.
 */
export function quantisationClip(config: SimulationConfig): number {
  const cfg = secureSection(config);
  if (cfg.clip !== undefined) return cfg.clip;
  if (config.privacy?.mode !== 'client') return DEFAULT_CLIP;
  const noise = distributedNoisePlan(config);
  return config.privacy.clipNorm + (noise ? 7 * noise.shareStd : 0);
}

/** What every simulated participant insists on, derived from the config alone. */
export function participantPolicyFor(config: SimulationConfig): SecAggParticipantPolicy {
  const cfg = secureSection(config);
  const noise = distributedNoisePlan(config);
  return {
    modulusBits: cfg.modulusBits,
    clip: quantisationClip(config),
    minSurvivors: noise ? noise.minSurvivors : (cfg.minSurvivors ?? 3),
    ...(noise ? { noiseStd: noise.shareStd } : {}),
  };
}
