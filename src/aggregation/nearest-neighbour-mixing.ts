/**
 * Nearest-neighbour mixing, NNM (Allouah et al. 2023, "Fixing by mixing"): replace every update by
 * the mean of its n − f nearest updates (itself included, squared L2 distance, ties to itself then the
 * smaller id), then apply an inner robust aggregator to the mixed updates. Mixing pulls honest updates
 * together under heterogeneity. Costs n·(n − f)·d extra additions on top of the distance matrix.
 * Diagnostics map back to the original updates: xⱼ's weight is Σᵢ wᵢ·[j among i's neighbours]/(n − f).
 */
import { pairwiseSquaredDistances } from './pairwise-distances.js';
import type { AggregationContext, AggregationResult, Aggregator, Contribution, ContributionDiagnostic } from './types.js';
import { aggregateValidated } from './validate.js';

export function nearestNeighbourMixing(inner: Aggregator): Aggregator {
  const requirement = (f: number) => {
    const innerReq = inner.requirement?.(f) ?? { min: 1, rule: 'at least one update' };
    const min = Math.max(innerReq.min, f + 1);
    return { min, rule: `n > f and ${inner.name}'s ${innerReq.rule}` };
  };
  return {
    name: `nnm(${inner.name})`,
    ...(inner.needsReference ? { needsReference: true } : {}),
    requirement,
    aggregate(contributions: readonly Contribution[], ctx: AggregationContext): AggregationResult {
      return aggregateValidated(`NNM over ${inner.name}`, contributions, ctx, requirement, (valid, ctx, dim) => {
        const n = valid.length;
        const keep = n - ctx.byzantine;
        const dist = pairwiseSquaredDistances(valid.map((c) => c.update));
        // Nearest first; on equal distance itself first, then the smaller id (order-independent).
        const byId = (a: number, b: number): number => (valid[a]!.id < valid[b]!.id ? -1 : 1);
        const neighbours = valid.map((_, i) =>
          valid
            .map((_, j) => j)
            .sort((a, b) => dist[i * n + a]! - dist[i * n + b]! || (a === i ? -1 : b === i ? 1 : byId(a, b)))
            .slice(0, keep),
        );
        const mixed: Contribution[] = valid.map((c, i) => {
          const acc = new Float64Array(dim);
          for (const j of neighbours[i]!) {
            const u = valid[j]!.update;
            for (let k = 0; k < dim; k++) acc[k] = acc[k]! + u[k]!;
          }
          const update = new Float32Array(dim);
          for (let k = 0; k < dim; k++) update[k] = acc[k]! / keep;
          return { id: c.id, update, weight: c.weight, ...(c.members ? { members: c.members } : {}) };
        });
        const result = inner.aggregate(mixed, { ...ctx, rng: ctx.rng.fork('nnm-inner'), expectedDim: dim });
        const effective = new Float64Array(n);
        result.diagnostics.forEach((d, i) => {
          for (const j of neighbours[i]!) effective[j] = effective[j]! + d.weight / keep;
        });
        const diagnostics: ContributionDiagnostic[] = valid.map((c, j) => {
          const d = result.diagnostics[j]!;
          const w = effective[j]!;
          return {
            id: c.id,
            accepted: w > 0,
            weight: w,
            ...(d.score !== undefined ? { score: d.score } : {}),
            ...(w > 0 ? (d.reason ? { reason: `mixed update: ${d.reason}` } : {}) : { reason: `not among any kept update's ${keep} nearest neighbours${d.reason ? ` (mixed update: ${d.reason})` : ''}` }),
          };
        });
        return { aggregate: result.aggregate, diagnostics };
      });
    },
  };
}
