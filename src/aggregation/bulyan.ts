/**
 * Bulyan (El Mhamdi et al. 2018). Phase 1 selects θ = n − 2f updates by repeatedly taking the Krum
 * winner of the remaining set (Blanchard scoring; the neighbour count max(1, r − f − 2) is clamped
 * at 1 for the last, small remaining sets, as Flower does; score ties go to the smaller id).
 * Phase 2, per coordinate, averages the β = θ − 2f selected values closest to their median.
 * Needs n ≥ 4f + 3 and refuses below it.
 */
import { pairwiseSquaredDistances } from './pairwise-distances.js';
import { idRanks, reduceColumns, shareWeights, type ColumnRule } from './coordinate-wise.js';
import { krumScores, rankByScore } from './krum.js';
import type { Aggregator, ContributionDiagnostic } from './types.js';
import { aggregateValidated, atLeast } from './validate.js';

/**
 * Keep the `beta` values closest to the column median: a contiguous window of the sorted column,
 * grown outwards from the middle, ties to the lower side.
 */
function closestToMedianRule(beta: number): ColumnRule {
  return (a, lo, hi, range) => {
    const s = a.subarray(lo, hi).sort();
    const theta = s.length;
    const h = theta >> 1;
    const med = theta % 2 === 1 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
    // The window is the open interval (l, r) of sorted positions.
    let l = h - 1;
    let r = theta % 2 === 1 ? h + 1 : h;
    for (let count = theta % 2 === 1 ? 1 : 0; count < beta; count++) {
      if (r < theta && (l < 0 || s[r]! - med < med - s[l]!)) r++;
      else l--;
    }
    range[0] = lo + l + 1;
    range[1] = lo + r;
  };
}

export function bulyan(): Aggregator {
  const requirement = (f: number) => atLeast(4 * f + 3, `n ≥ 4f + 3 = ${4 * f + 3}`);
  return {
    name: 'bulyan',
    requirement,
    aggregate(contributions, ctx) {
      return aggregateValidated('Bulyan', contributions, ctx, requirement, (valid, ctx, dim) => {
        const n = valid.length;
        const f = ctx.byzantine;
        const theta = n - 2 * f;
        const beta = theta - 2 * f;
        const dist = pairwiseSquaredDistances(valid.map((c) => c.update));
        const remaining = valid.map((_, i) => i);
        const selected: number[] = [];
        while (selected.length < theta) {
          const k = Math.max(1, remaining.length - f - 2);
          const best = rankByScore(krumScores(dist, n, remaining, k), remaining.map((i) => valid[i]!.id))[0]!;
          selected.push(remaining[best]!);
          remaining.splice(best, 1);
        }
        const { aggregate, shares, hits } = reduceColumns(
          selected.map((i) => valid[i]!.update),
          dim,
          closestToMedianRule(beta),
          idRanks(selected.map((i) => valid[i]!.id)),
        );
        const weights = shareWeights(shares, dim);
        const slot = new Map(selected.map((idx, k) => [idx, k]));
        const diagnostics: ContributionDiagnostic[] = valid.map((c, i) => {
          const k = slot.get(i);
          if (k === undefined) {
            return { id: c.id, accepted: false, weight: 0, score: 0, reason: `not among the θ = ${theta} updates selected by iterated Krum` };
          }
          const w = weights[k]!;
          return {
            id: c.id,
            accepted: w > 0,
            weight: w,
            score: hits[k]! / dim,
            ...(w > 0 ? {} : { reason: `selected by Krum but never among the β = ${beta} values closest to the median` }),
          };
        });
        return { aggregate, diagnostics };
      });
    },
  };
}
