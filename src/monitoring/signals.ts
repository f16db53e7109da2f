/**
 * Per-round monitoring signals. For each contribution: its norm, its cosine to the aggregate, to the
 * round's robust centre (coordinate-wise median) and to its own history, its distance from that
 * centre, and what the aggregator made of it; for the round: held-out accuracy and loss (overall and
 * per class) and their change against the model the round started from.
 *
 * A participant's history is kept as a count sketch (Charikar et al. 2002) of its recent update
 * directions, so memory stays O(participants · 1024) whatever the model size.
 */
import { SeededRng } from '../core/rng.js';
import type { Vector } from '../core/vector.js';
import { cosineSimilarity } from '../core/vector.js';
import { gramMatrix } from '../aggregation/pairwise-distances.js';
import type { ContributionDiagnostic, Contribution } from '../aggregation/types.js';
import type { Evaluation } from '../federation/engine.js';
import { coordinateMedian, median, robustZ } from './robust-stats.js';

export interface ContributionSignals {
  readonly id: string;
  /** Participants behind a bucket contribution (secure aggregation). */
  readonly members?: readonly string[];
  readonly norm: number;
  /** Modified z-score of the norm among this round's contributions. */
  readonly normZ: number;
  /** Norm over the median of this contributor's earlier norms (undefined without enough history). */
  readonly historyRatio?: number;
  readonly cosineToAggregate: number;
  readonly cosineToCentre: number;
  /** Cosine to the contributor's own recent update direction (undefined without history). */
  readonly cosineToHistory?: number;
  readonly distanceToCentre: number;
  /** Modified z-score of the distance from the centre. */
  readonly centreZ: number;
  /** What the aggregator reported for it. */
  readonly accepted?: boolean;
  readonly aggregatorWeight?: number;
  readonly aggregatorScore?: number;
  readonly rejectionReason?: string;
}

export interface EvaluationChange {
  readonly accuracy: number;
  readonly loss: number;
  readonly perClassAccuracy: readonly number[];
}

export interface RoundSignals {
  readonly round: number;
  readonly contributions: readonly ContributionSignals[];
  /** Pairwise cosines, row-major n×n, in the order of `contributions`. */
  readonly pairwiseCosine: Float64Array;
  readonly evaluation: Evaluation;
  /** The evaluation of the model this round started from (see `baselineRound`). */
  readonly baseline: Evaluation;
  readonly baselineRound: number;
  /** candidate − baseline. */
  readonly change: EvaluationChange;
}

const SKETCH_SIZE = 1024;
/** Weight of the newest direction in a contributor's running direction. */
const HISTORY_RATE = 0.3;
const HISTORY_NORMS = 20;

/**
 * The state signals need across rounds: each contributor's recent norms and its running update
 * direction (sketched).
 */
export class ContributionHistory {
  private readonly norms = new Map<string, number[]>();
  private readonly directions = new Map<string, Float64Array>();
  private hash: { bucket: Int32Array; sign: Float64Array } | undefined;

  constructor(private readonly seed: number | string = 'signals') {}

  /** A count sketch of v (the identity for small models). */
  sketch(v: Vector): Float64Array {
    if (v.length <= SKETCH_SIZE) return Float64Array.from(v);
    if (this.hash?.bucket.length !== v.length) {
      const rng = SeededRng.from(this.seed, 'count-sketch', v.length);
      const bucket = new Int32Array(v.length);
      const sign = new Float64Array(v.length);
      for (let i = 0; i < v.length; i++) {
        bucket[i] = rng.int(SKETCH_SIZE);
        sign[i] = rng.next() < 0.5 ? -1 : 1;
      }
      this.hash = { bucket, sign };
    }
    const out = new Float64Array(SKETCH_SIZE);
    const { bucket, sign } = this.hash;
    for (let i = 0; i < v.length; i++) out[bucket[i]!] = out[bucket[i]!]! + sign[i]! * v[i]!;
    return out;
  }

  normHistory(id: string): readonly number[] {
    return this.norms.get(id) ?? [];
  }

  direction(id: string): Float64Array | undefined {
    return this.directions.get(id);
  }

  record(id: string, norm: number, sketch: Float64Array): void {
    const norms = this.norms.get(id) ?? [];
    norms.push(norm);
    if (norms.length > HISTORY_NORMS) norms.shift();
    this.norms.set(id, norms);
    const unit = unitOf(sketch);
    if (!unit) return;
    const prev = this.directions.get(id);
    if (!prev) this.directions.set(id, unit);
    else for (let i = 0; i < prev.length; i++) prev[i] = (1 - HISTORY_RATE) * prev[i]! + HISTORY_RATE * unit[i]!;
  }
}

function unitOf(v: Float64Array): Float64Array | undefined {
  let s = 0;
  for (const x of v) s += x * x;
  if (!(s > 0)) return undefined;
  const n = Math.sqrt(s);
  return v.map((x) => x / n);
}


export interface SignalInput {
  readonly round: number;
  readonly contributions: readonly Contribution[];
  readonly aggregate: Vector;
  readonly diagnostics: readonly ContributionDiagnostic[];
  readonly evaluation: Evaluation;
  readonly baseline: Evaluation;
  readonly baselineRound: number;
}

/**
 * Compute the round's signals against the history *before* this round, then add this round to the
 * history (so a contributor is never compared with itself).
 */
export function computeSignals(input: SignalInput, history: ContributionHistory, minHistory: number): RoundSignals {
  const cs = input.contributions;
  const n = cs.length;
  // One blocked Gram matrix gives every norm and pairwise cosine (the O(n²·d) part of a round).
  const gram = n > 0 ? gramMatrix(cs.map((c) => c.update)) : new Float64Array(0);
  const norms = cs.map((_, k) => Math.sqrt(Math.max(0, gram[k * n + k]!)));
  const centre = n > 0 ? coordinateMedian(cs.map((c) => c.update)) : new Float32Array(input.aggregate.length);
  const distances = cs.map((c) => {
    let s = 0;
    for (let i = 0; i < centre.length; i++) {
      const d = c.update[i]! - centre[i]!;
      s += d * d;
    }
    return Math.sqrt(s);
  });
  const normZ = robustZ(norms);
  const centreZ = robustZ(distances);
  const pairwiseCosine = new Float64Array(n * n);
  for (let a = 0; a < n; a++) {
    pairwiseCosine[a * n + a] = 1;
    for (let b = a + 1; b < n; b++) {
      const denom = norms[a]! * norms[b]!;
      const c = denom > 0 ? Math.max(-1, Math.min(1, gram[a * n + b]! / denom)) : 0;
      pairwiseCosine[a * n + b] = c;
      pairwiseCosine[b * n + a] = c;
    }
  }
  const diag = new Map(input.diagnostics.map((d) => [d.id, d]));
  const sketches = cs.map((c) => history.sketch(c.update));
  const contributions = cs.map((c, k): ContributionSignals => {
    const past = history.normHistory(c.id);
    const dir = history.direction(c.id);
    const d = diag.get(c.id);
    const pastMedian = median(past);
    return {
      id: c.id,
      ...(c.members ? { members: c.members } : {}),
      norm: norms[k]!,
      normZ: normZ[k]!,
      ...(past.length >= minHistory && pastMedian > 0 ? { historyRatio: norms[k]! / pastMedian } : {}),
      cosineToAggregate: cosineSimilarity(c.update, input.aggregate),
      cosineToCentre: cosineSimilarity(c.update, centre),
      ...(dir && past.length >= minHistory ? { cosineToHistory: cosineSimilarity(sketches[k]!, dir) } : {}),
      distanceToCentre: distances[k]!,
      centreZ: centreZ[k]!,
      ...(d ? { accepted: d.accepted, aggregatorWeight: d.weight } : {}),
      ...(d?.score !== undefined ? { aggregatorScore: d.score } : {}),
      ...(d?.reason !== undefined ? { rejectionReason: d.reason } : {}),
    };
  });
  cs.forEach((c, k) => history.record(c.id, norms[k]!, sketches[k]!));
  const ev = input.evaluation;
  const base = input.baseline;
  return {
    round: input.round,
    contributions,
    pairwiseCosine,
    evaluation: ev,
    baseline: base,
    baselineRound: input.baselineRound,
    change: {
      accuracy: ev.accuracy - base.accuracy,
      loss: ev.loss - base.loss,
      perClassAccuracy: ev.perClassAccuracy.map((a, k) => a - (base.perClassAccuracy[k] ?? NaN)),
    },
  };
}
