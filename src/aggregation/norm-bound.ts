/**
 * Norm bounding (Sun et al. 2019, "Can you really backdoor federated learning?"): clip every update
 * to L2 norm at most M, then average. Bounds what any one participant — a boosted backdoor
 * included — can add to the model per round.
 */
import type { Aggregator } from './types.js';
import { aggregateValidated, atLeast } from './validate.js';
import { weightedSum } from './weighted-sum.js';

export interface NormBoundOptions {
  /** The bound M > 0. */
  readonly maxNorm: number;
  /** Weight by `contribution.weight` (self-reported) instead of counting each update once. */
  readonly weighted: boolean;
}

export function normBound(options: NormBoundOptions): Aggregator {
  const requirement = () => atLeast(1, 'at least one contribution');
  return {
    name: 'norm-bound',
    requirement,
    aggregate(contributions, ctx) {
      return aggregateValidated('Norm bounding', contributions, ctx, requirement, (valid, _ctx, dim) => {
        const maxW = Math.max(...valid.map((c) => (options.weighted ? c.weight : 1)));
        const rel = valid.map((c) => (options.weighted ? c.weight : 1) / maxW);
        const total = rel.reduce((s, w) => s + w, 0);
        const norms = valid.map((c) => {
          let s = 0;
          for (let k = 0; k < dim; k++) s += c.update[k]! * c.update[k]!;
          return Math.sqrt(s);
        });
        const coefficients = norms.map((norm, i) => (rel[i]! / total) * (norm > options.maxNorm ? options.maxNorm / norm : 1));
        return {
          aggregate: weightedSum(
            valid.map((c) => c.update),
            coefficients,
            dim,
          ),
          diagnostics: valid.map((c, i) => ({
            id: c.id,
            accepted: true,
            weight: rel[i]! / total,
            score: norms[i]!,
            ...(norms[i]! > options.maxNorm ? { reason: `clipped from norm ${norms[i]!.toPrecision(4)} to ${options.maxNorm}` } : {}),
          })),
        };
      });
    },
  };
}
