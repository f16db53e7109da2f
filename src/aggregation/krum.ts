/**
 * Krum and Multi-Krum (Blanchard et al. 2017). Each update's score is the sum of squared distances
 * to its k nearest other updates; Krum returns the best-scored update, Multi-Krum the plain mean of
 * the m best-scored ones (default m = n − f).
 *
 * Variants (projects differ, see REFERENCES.md): 'blanchard' uses k = n − f − 2 and needs
 * n > 2f + 2, as in the paper and Flower; 'byzfl' uses k = n − f − 1 (ByzFL) and needs only n > 2f
 * and k ≥ 1. Ties in score (common: with one neighbour, mutual nearest neighbours always tie) go to
 * the smaller participant id, so the choice does not depend on arrival order.
 */
import { fail } from '../core/errors.js';
import { pairwiseSquaredDistances } from './pairwise-distances.js';
import type { Aggregator, AggregatorRequirement, Contribution, ContributionDiagnostic } from './types.js';
import { aggregateValidated, atLeast } from './validate.js';
import { weightedSum } from './weighted-sum.js';

export type KrumVariant = 'blanchard' | 'byzfl';

export interface KrumOptions {
  /** How many best-scored updates to average: 1 is Krum; 'n-f' (Multi-Krum's default) is n − f. */
  readonly m: number | 'n-f';
  readonly variant: KrumVariant;
}

export function krumNeighbours(n: number, f: number, variant: KrumVariant): number {
  return n - f - (variant === 'blanchard' ? 2 : 1);
}

export function krumRequirement(f: number, variant: KrumVariant): AggregatorRequirement {
  if (variant === 'blanchard') return atLeast(2 * f + 3, `n > 2f + 2 = ${2 * f + 2}`);
  const min = Math.max(2 * f + 1, f + 2);
  return atLeast(min, `n > 2f and n ≥ f + 2 (at least ${min}) for the ByzFL variant`);
}

/**
 * Krum scores for the members of `subset` (indices into the n×n distance matrix), each against the
 * other members only: the sum of its `neighbours` smallest squared distances.
 */
export function krumScores(dist: Float64Array, n: number, subset: readonly number[], neighbours: number): number[] {
  const others = new Float64Array(subset.length - 1);
  return subset.map((i) => {
    let t = 0;
    for (const j of subset) if (j !== i) others[t++] = dist[i * n + j]!;
    others.sort();
    let s = 0;
    for (let k = 0; k < neighbours; k++) s += others[k]!;
    return s;
  });
}

/** Indices of `scores` sorted by ascending score, ties by id (order-independent, ids are unique). */
export function rankByScore(scores: readonly number[], ids: readonly string[]): number[] {
  const byId = (a: number, b: number): number => (ids[a]! < ids[b]! ? -1 : ids[a]! > ids[b]! ? 1 : 0);
  return scores.map((_, i) => i).sort((a, b) => scores[a]! - scores[b]! || byId(a, b));
}

export function krum(options: KrumOptions): Aggregator {
  const label = options.m === 1 ? 'Krum' : 'Multi-Krum';
  const requirement = (f: number) => krumRequirement(f, options.variant);
  return {
    name: options.m === 1 ? 'krum' : 'multi-krum',
    requirement,
    aggregate(contributions, ctx) {
      return aggregateValidated(label, contributions, ctx, requirement, (valid: readonly Contribution[], ctx, dim) => {
        const n = valid.length;
        const f = ctx.byzantine;
        const m = options.m === 'n-f' ? n - f : options.m;
        // Averaging more than n − f would include Byzantine updates whatever the scores: fail closed.
        if (m < 1 || m > n - f) fail('precondition', `${label} averages m = ${m} updates but needs m ≤ n − f = ${n - f} (n = ${n}, f = ${f})`, 'lower m or add participants');
        const neighbours = krumNeighbours(n, f, options.variant);
        const dist = pairwiseSquaredDistances(valid.map((c) => c.update));
        const all = valid.map((_, i) => i);
        const scores = krumScores(dist, n, all, neighbours);
        const order = rankByScore(scores, valid.map((c) => c.id));
        const selected = new Set(order.slice(0, m));
        const rank = new Array<number>(n);
        order.forEach((idx, r) => (rank[idx] = r + 1));
        const aggregate = weightedSum(
          order.slice(0, m).map((i) => valid[i]!.update),
          new Array<number>(m).fill(1 / m),
          dim,
        );
        const diagnostics: ContributionDiagnostic[] = valid.map((c, i) =>
          selected.has(i)
            ? { id: c.id, accepted: true, weight: 1 / m, score: scores[i]! }
            : {
                id: c.id,
                accepted: false,
                weight: 0,
                score: scores[i]!,
                reason: `Krum score ranked ${rank[i]} of ${n}; only the ${m} lowest are kept`,
              },
        );
        return { aggregate, diagnostics };
      });
    },
  };
}
