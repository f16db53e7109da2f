/**
 * The server-side aggregation contract. An aggregator turns the round's contributions into one
 * update and says, per contribution, how much it counted and why.
 */
import type { SeededRng } from '../core/rng.js';
import type { Vector } from '../core/vector.js';

export interface Contribution {
  /** A participant id, or a bucket id when secure aggregation only reveals bucket sums. */
  readonly id: string;
  /** The model delta (local − global); for a bucket, the weighted mean delta of its members. */
  readonly update: Vector;
  /** Relative weight, normally the number of local training samples. */
  readonly weight: number;
  /** Participants behind a bucket contribution (absent for a single participant). */
  readonly members?: readonly string[];
}

export interface ContributionDiagnostic {
  readonly id: string;
  /** Did this contribution count towards the aggregate at all? */
  readonly accepted: boolean;
  /** Effective weight in the aggregate (0 when rejected); weights of accepted ones sum to 1. */
  readonly weight: number;
  /** Aggregator-specific score (Krum score, trust score, distance to centre, …). */
  readonly score?: number;
  /** Why it was discounted or rejected, in words. */
  readonly reason?: string;
}

export interface AggregationResult {
  readonly aggregate: Vector;
  readonly diagnostics: readonly ContributionDiagnostic[];
}

export interface AggregationContext {
  readonly round: number;
  /** The number of Byzantine contributions the aggregator must tolerate (f). */
  readonly byzantine: number;
  /** Seeded randomness for aggregators that shuffle (bucketing); reproducible per round. */
  readonly rng: SeededRng;
  /** The server's own update on its clean root dataset (FLTrust), when the engine computed one. */
  readonly reference?: Vector;
  /**
   * The model's parameter count. Updates of any other length are rejected; when absent, the most
   * common length among the contributions is taken as the expected one.
   */
  readonly expectedDim?: number;
}

/** How many valid contributions an aggregator needs when tolerating f Byzantine ones. */
export interface AggregatorRequirement {
  readonly min: number;
  /** The rule in words, for error messages, e.g. "n > 2f + 2". */
  readonly rule: string;
}

export interface Aggregator {
  readonly name: string;
  /** True when the aggregator needs `ctx.reference` (the engine then trains on the root set). */
  readonly needsReference?: boolean;
  aggregate(contributions: readonly Contribution[], ctx: AggregationContext): AggregationResult;
  /** The precondition on n for a given f, so the engine can refuse a round plan before training. */
  requirement?(byzantine: number): AggregatorRequirement;
}
