/**
 * FedAvg (McMahan et al. 2017): the mean of the updates weighted by each contribution's `weight`
 * (normally its sample count). No robustness at all — one participant can move it arbitrarily far,
 * and the weights are self-reported — it is the baseline the robust rules are measured against.
 */
import type { Aggregator } from './types.js';
import { weightedSum } from './weighted-sum.js';
import { aggregateValidated, atLeast } from './validate.js';

export interface FedAvgOptions {
  /** Weight by `contribution.weight` (true) or count every contribution once (false). */
  readonly weighted: boolean;
}

export function fedAvg(options: FedAvgOptions = { weighted: true }): Aggregator {
  const requirement = () => atLeast(1, 'at least one contribution');
  return {
    name: 'fedavg',
    requirement,
    aggregate(contributions, ctx) {
      return aggregateValidated('FedAvg', contributions, ctx, requirement, (valid, _ctx, dim) => {
        // Normalise by the largest weight first so a sum of huge (finite) weights cannot overflow.
        const raw = valid.map((c) => (options.weighted ? c.weight : 1));
        const maxW = Math.max(...raw);
        const rel = raw.map((w) => w / maxW);
        const total = rel.reduce((s, w) => s + w, 0);
        const weights = rel.map((w) => w / total);
        const aggregate = weightedSum(
          valid.map((c) => c.update),
          weights,
          dim,
        );
        return { aggregate, diagnostics: valid.map((c, k) => ({ id: c.id, accepted: true, weight: weights[k]! })) };
      });
    },
  };
}

