/**
 * FLTrust (Cao et al. 2021). The server trains on a small clean root dataset to get a reference
 * update g₀. Each update gets trust TSᵢ = ReLU(cos(gᵢ, g₀)), is rescaled to ‖g₀‖ (so no one wins by
 * magnitude), and the aggregate is Σ TSᵢ·ĝᵢ / Σ TSᵢ. If nobody earns any trust the aggregate is the
 * zero update (the model does not move) rather than an error, and every diagnostic says why.
 */
import { fail } from '../core/errors.js';
import type { Aggregator } from './types.js';
import { aggregateValidated, atLeast } from './validate.js';
import { weightedSum } from './weighted-sum.js';

export function flTrust(): Aggregator {
  const requirement = () => atLeast(1, 'at least one contribution');
  return {
    name: 'fltrust',
    needsReference: true,
    requirement,
    aggregate(contributions, ctx) {
      const ref = ctx.reference;
      if (ref === undefined) {
        fail('precondition', 'FLTrust needs the server reference update (ctx.reference)', 'give the coordinator a clean root dataset so it can train one');
      }
      return aggregateValidated('FLTrust', contributions, ctx, requirement, (valid, _ctx, dim) => {
        if (ref.length !== dim) fail('shape', `FLTrust reference update has length ${ref.length}, updates have ${dim}`);
        let refSq = 0;
        for (let k = 0; k < dim; k++) refSq += ref[k]! * ref[k]!;
        const refNorm = Math.sqrt(refSq);
        if (!Number.isFinite(refNorm)) fail('non-finite', 'FLTrust reference update is not finite');
        if (refNorm === 0) fail('precondition', 'FLTrust reference update is zero, so no direction can be trusted', 'check the root dataset and server learning rate');
        const stats = valid.map((c) => {
          let d = 0;
          let s = 0;
          for (let k = 0; k < dim; k++) {
            d += c.update[k]! * ref[k]!;
            s += c.update[k]! * c.update[k]!;
          }
          const norm = Math.sqrt(s);
          const cos = norm > 0 ? d / (norm * refNorm) : 0;
          return { cos, norm, trust: Math.max(0, cos) };
        });
        const totalTrust = stats.reduce((s, x) => s + x.trust, 0);
        const trusted = stats.map((s, i) => i).filter((i) => stats[i]!.trust > 0);
        const aggregate = weightedSum(
          trusted.map((i) => valid[i]!.update),
          trusted.map((i) => (stats[i]!.trust / totalTrust) * (refNorm / stats[i]!.norm)),
          dim,
        );
        return {
          aggregate,
          diagnostics: valid.map((c, i) => {
            const { trust, cos } = stats[i]!;
            return trust > 0
              ? { id: c.id, accepted: true, weight: trust / totalTrust, score: trust }
              : {
                  id: c.id,
                  accepted: false,
                  weight: 0,
                  score: 0,
                  reason: `cosine ${cos.toFixed(3)} with the server reference is not positive`,
                };
          }),
        };
      });
    },
  };
}
