/**
 * Geometric median by smoothed Weiszfeld iterations, as in RFA (Pillutla et al. 2022):
 *   z ← Σ βᵢxᵢ / Σ βᵢ,  βᵢ = αᵢ / max(ν, ‖z − xᵢ‖)
 * ν > 0 keeps the step defined when z lands on an input. Stops after `maxIterations` or when the
 * objective Σ αᵢ‖z − xᵢ‖ changes by at most `tolerance` relative to itself (RFA's criterion).
 * αᵢ are uniform unless `weighted` (self-reported weights are an attack surface, so off by default).
 * Breakdown point 1/2: needs n > 2f.
 */
import type { Vector } from '../core/vector.js';
import { coordinateMedian } from './median.js';
import type { AggregationContext, Aggregator, Contribution } from './types.js';
import { aggregateValidated, atLeast } from './validate.js';
import { weightedSum64 } from './weighted-sum.js';

export interface GeometricMedianOptions {
  /** Smoothing ν > 0. */
  readonly nu: number;
  readonly maxIterations: number;
  /** Relative objective change that counts as converged; 0 runs exactly maxIterations. */
  readonly tolerance: number;
  /** Starting point: the origin (no change), the mean, or the coordinate-wise median. */
  readonly init: 'zero' | 'mean' | 'coordinate-median';
  readonly weighted: boolean;
}

/** ‖z − xᵢ‖ for every input, z in float64. */
function distancesTo(z: Float64Array, xs: readonly Vector[], out: Float64Array): void {
  const dim = z.length;
  xs.forEach((x, i) => {
    let s = 0;
    for (let k = 0; k < dim; k++) {
      const d = z[k]! - x[k]!;
      s += d * d;
    }
    out[i] = Math.sqrt(s);
  });
}

function startingPoint(
  valid: readonly Contribution[],
  ctx: AggregationContext,
  dim: number,
  init: GeometricMedianOptions['init'],
  alpha: Float64Array,
): Float64Array {
  const z = new Float64Array(dim);
  if (init === 'mean') {
    valid.forEach((c, i) => {
      const a = alpha[i]!;
      for (let k = 0; k < dim; k++) z[k] = z[k]! + a * c.update[k]!;
    });
  } else if (init === 'coordinate-median') {
    const med = coordinateMedian().aggregate(valid, { ...ctx, byzantine: 0, expectedDim: dim });
    z.set(med.aggregate);
  }
  return z;
}

export function geometricMedian(options: GeometricMedianOptions): Aggregator {
  const requirement = (f: number) => atLeast(2 * f + 1, `n > 2f = ${2 * f}`);
  return {
    name: 'geometric-median',
    requirement,
    aggregate(contributions, ctx) {
      return aggregateValidated('Geometric median', contributions, ctx, requirement, (valid, ctx, dim) => {
        const n = valid.length;
        const xs = valid.map((c) => c.update);
        const alpha = new Float64Array(n);
        const totalW = valid.reduce((s, c) => s + (options.weighted ? c.weight : 1), 0);
        valid.forEach((c, i) => (alpha[i] = (options.weighted ? c.weight : 1) / totalW));

        let z = startingPoint(valid, ctx, dim, options.init, alpha);
        const dist = new Float64Array(n);
        const beta = new Float64Array(n);
        distancesTo(z, xs, dist);
        let objective = dist.reduce((s, d, i) => s + alpha[i]! * d, 0);
        let iterations = 0;
        while (iterations < options.maxIterations) {
          let betaSum = 0;
          for (let i = 0; i < n; i++) {
            beta[i] = alpha[i]! / Math.max(options.nu, dist[i]!);
            betaSum += beta[i]!;
          }
          z = weightedSum64(
            xs,
            Array.from(beta, (b) => b / betaSum),
            dim,
          );
          iterations++;
          distancesTo(z, xs, dist);
          const previous = objective;
          objective = dist.reduce((s, d, i) => s + alpha[i]! * d, 0);
          if (Math.abs(previous - objective) <= options.tolerance * objective) break;
        }
        // Effective weights: the Weiszfeld coefficients of the final point.
        let betaSum = 0;
        for (let i = 0; i < n; i++) betaSum += beta[i]!;
        const aggregate = Float32Array.from(z);
        return {
          aggregate,
          diagnostics: valid.map((c, i) => {
            const w = iterations > 0 ? beta[i]! / betaSum : alpha[i]!;
            return { id: c.id, accepted: true, weight: w, score: dist[i]! };
          }),
        };
      });
    },
  };
}
