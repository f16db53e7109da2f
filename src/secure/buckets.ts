/**
 * Bucketed secure aggregation: participants are assigned at random to buckets of at least s, one
 * SecAgg session runs per bucket, and only bucket sums (and their total weights) are revealed, so
 * a Byzantine-robust aggregator can run over bucket means (e.g. Karimireddy et al. 2022 bucketing,
 * or the secure-robust combinations of Burkhalter et al.). The assignment comes from the session's
 * public randomness, so every participant can check which bucket it was put in and with whom.
 *
 * Each bucket gets its own session id (HKDF of the parent session id and the bucket number), its
 * own neighbour graph and its own quantisation range (n = bucket size, so buckets get more
 * precision than one big session).
 */
import type { KeyObject } from 'node:crypto';
import type { Contribution } from '../aggregation/types.js';
import { fail } from '../core/errors.js';
import { createSession, type SecAggConfigInput } from './config.js';
import type { SecAggAbort } from './coordinator.js';
import { runInProcessRound, type DropoutPlan, type RoundInput, type TamperHook } from './in-process-round.js';
import { concatBytes, hkdf32, label, u32 } from './keys.js';
import { defaultDegree } from './neighbour-graph.js';
import { PublicCoin } from './public-coin.js';
import { dequantiseSum } from './quantise.js';

export interface BucketPlan {
  readonly bucket: number;
  readonly members: readonly string[];
  /** A complete session config for this bucket's SecAgg round. */
  readonly config: SecAggConfigInput;
}

export interface BucketParameters {
  /** Degree for a bucket of the given size (default: defaultDegree). */
  readonly degree?: (bucketSize: number) => number;
  /** Threshold for a degree (default: ⌊k/2⌋ + 1). */
  readonly threshold?: (degree: number) => number;
  /**
   * The order in which the sorted ids are dealt into buckets. Default: a shuffle by the session's
   * public coin (checkable by every participant); a simulation passes a seeded shuffle so runs
   * are reproducible.
   */
  readonly order?: (sortedIds: readonly string[]) => readonly string[];
}

/**
 * ⌊n / s⌋ buckets of size s or s + 1 (never below s), members drawn by a public-coin shuffle.
 * Degree, threshold and minSurvivors of `base` are per-session choices and are not copied.
 */
export function planBuckets(base: SecAggConfigInput, bucketSize: number, params: BucketParameters = {}): BucketPlan[] {
  if (!Number.isInteger(bucketSize) || bucketSize < 3) fail('config', `bucket size must be an integer ≥ 3 (SecAgg needs 3 participants), got ${bucketSize}`);
  const roster = [...base.participants].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const n = roster.length;
  const count = Math.floor(n / bucketSize);
  if (count < 1) fail('config', `${n} participants cannot fill one bucket of ${bucketSize}`, `use a bucket size ≤ ${n}`);
  let order: typeof roster;
  if (params.order) {
    const byId = new Map(roster.map((p) => [p.id, p]));
    order = params.order(roster.map((p) => p.id)).map((id) => byId.get(id) ?? fail('internal', `bucket order names unknown participant ${id}`));
    if (order.length !== n || new Set(order).size !== n) fail('internal', 'bucket order must be a permutation of the roster');
  } else {
    order = PublicCoin.forSession(base.sessionId, base.round, roster, 'buckets').shuffle([...roster]);
  }
  const groups = Array.from({ length: count }, () => [] as (typeof roster)[number][]);
  order.forEach((p, i) => groups[i % count]!.push(p));
  return groups.map((members, bucket) => {
    const size = members.length;
    const degree = params.degree?.(size) ?? defaultDegree(size);
    const { degree: _d, threshold: _t, minSurvivors: _m, ...rest } = base;
    const config: SecAggConfigInput = {
      ...rest,
      sessionId: hkdf32(base.sessionId, u32(bucket), concatBytes(label('bucket-session'), u32(base.round))),
      participants: members,
      degree,
      ...(params.threshold ? { threshold: params.threshold(degree) } : {}),
    };
    return { bucket, members: members.map((m) => m.id).sort(), config };
  });
}

export type BucketOutcome =
  | {
      readonly type: 'done';
      readonly bucket: number;
      readonly members: readonly string[];
      readonly survivors: readonly string[];
      readonly sum: Uint32Array;
      readonly weightedSum: Float32Array;
      readonly totalWeight: number;
      readonly mean: Float32Array;
    }
  | { readonly type: 'aborted'; readonly bucket: number; readonly members: readonly string[]; readonly abort: SecAggAbort };

export interface BucketedRoundOptions {
  readonly identities: ReadonlyMap<string, KeyObject>;
  readonly input: (id: string) => RoundInput;
  readonly dropouts?: DropoutPlan;
  readonly tamper?: TamperHook;
}

/** One in-process SecAgg round per bucket; aborted buckets reveal nothing. */
export async function runBucketedRound(plans: readonly BucketPlan[], options: BucketedRoundOptions): Promise<BucketOutcome[]> {
  const out: BucketOutcome[] = [];
  for (const plan of plans) {
    const session = createSession(plan.config);
    const members = new Set(plan.members);
    const dropouts: DropoutPlan = Object.fromEntries(
      Object.entries(options.dropouts ?? {}).map(([stage, ids]) => [stage, [...(ids as Iterable<string>)].filter((id) => members.has(id))]),
    );
    const report = await runInProcessRound({
      session,
      identities: options.identities,
      input: options.input,
      dropouts,
      ...(options.tamper ? { tamper: options.tamper } : {}),
    });
    if (report.outcome.type === 'aborted') {
      out.push({ type: 'aborted', bucket: plan.bucket, members: plan.members, abort: report.outcome.abort });
      continue;
    }
    const { result } = report.outcome;
    const d = dequantiseSum(result.sum, session.quantisation);
    out.push({ type: 'done', bucket: plan.bucket, members: plan.members, survivors: result.survivors, sum: result.sum, ...d });
  }
  return out;
}

/** Completed buckets as aggregation contributions: the bucket's weighted mean, weighted by Σw. */
export function bucketContributions(outcomes: readonly BucketOutcome[]): Contribution[] {
  const out: Contribution[] = [];
  for (const o of outcomes) {
    if (o.type !== 'done' || o.totalWeight === 0) continue;
    out.push({ id: `bucket-${o.bucket}`, update: o.mean, weight: o.totalWeight, members: o.survivors });
  }
  return out;
}
