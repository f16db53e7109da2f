/**
 * Coordinate-wise median (Yin et al. 2018). Each coordinate independently; unweighted, because
 * self-reported weights would let one participant claim the majority. Tolerates f < n/2.
 */
import type { Aggregator } from './types.js';
import { idRanks, medianRule, reduceColumns, shareWeights } from './coordinate-wise.js';
import { aggregateValidated, atLeast } from './validate.js';

export function coordinateMedian(): Aggregator {
  const requirement = (f: number) => atLeast(2 * f + 1, `n ≥ 2f + 1 = ${2 * f + 1}`);
  return {
    name: 'median',
    requirement,
    aggregate(contributions, ctx) {
      return aggregateValidated('Coordinate-wise median', contributions, ctx, requirement, (valid, _ctx, dim) => {
        const { aggregate, shares, hits } = reduceColumns(
          valid.map((c) => c.update),
          dim,
          medianRule,
          idRanks(valid.map((c) => c.id)),
        );
        const weights = shareWeights(shares, dim);
        return {
          aggregate,
          diagnostics: valid.map((c, k) => ({
            id: c.id,
            accepted: weights[k]! > 0,
            weight: weights[k]!,
            score: hits[k]! / dim,
            ...(weights[k]! > 0 ? {} : { reason: 'never the median on any coordinate' }),
          })),
        };
      });
    },
  };
}
