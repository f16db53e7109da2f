/**
 * Centered clipping (Karimireddy, He & Jaggi 2021, "Learning from history"):
 *   v ← v + (1/n) Σ (xᵢ − v)·min(1, τ/‖xᵢ − v‖),  repeated L times from a centre v₀.
 * v₀ is the previous round's aggregate (the paper's momentum-like centre) or the origin. Each input
 * moves the result by at most τ/n per iteration, so its influence is bounded however large it is.
 * Stateful when centred on the previous aggregate: use one instance per training run.
 */
import { fail } from '../core/errors.js';
import type { AggregationContext, AggregationResult, Aggregator, Contribution } from './types.js';
import { aggregateValidated, atLeast } from './validate.js';
import { weightedSum64 } from './weighted-sum.js';

export interface CenteredClippingOptions {
  /** Clipping radius τ > 0 around the centre. */
  readonly tau: number;
  /** Number of clipping iterations L ≥ 1. */
  readonly iterations: number;
  readonly center: 'previous' | 'zero';
}

export class CenteredClipping implements Aggregator {
  readonly name = 'centered-clipping';
  private previous: Float32Array | undefined;

  constructor(private readonly options: CenteredClippingOptions) {}

  requirement(f: number) {
    return atLeast(2 * f + 1, `n > 2f = ${2 * f}`);
  }

  aggregate(contributions: readonly Contribution[], ctx: AggregationContext): AggregationResult {
    const result = aggregateValidated('Centered clipping', contributions, ctx, (f) => this.requirement(f), (valid, _ctx, dim) => {
      const n = valid.length;
      const { tau, iterations } = this.options;
      const v = new Float64Array(dim);
      if (this.options.center === 'previous' && this.previous !== undefined) {
        if (this.previous.length !== dim) {
          fail('shape', `centered clipping's previous aggregate has length ${this.previous.length}, updates have ${dim}`, 'use a new aggregator instance per model');
        }
        v.set(this.previous);
      }
      // w tracks each input's coefficient in v (the rest of v is the centre's share).
      const w = new Float64Array(n);
      const c = new Float64Array(n);
      const dist = new Float64Array(n);
      for (let l = 0; l < iterations; l++) {
        for (let i = 0; i < n; i++) {
          const x = valid[i]!.update;
          let s = 0;
          for (let k = 0; k < dim; k++) {
            const d = x[k]! - v[k]!;
            s += d * d;
          }
          dist[i] = Math.sqrt(s);
          c[i] = dist[i]! > tau ? tau / dist[i]! : 1;
        }
        // v ← v + (1/n) Σ cᵢ(xᵢ − v) = (1 − Σcᵢ/n)·v + Σ (cᵢ/n)·xᵢ
        const cSum = c.reduce((s, x) => s + x, 0);
        const pulled = weightedSum64(
          valid.map((con) => con.update),
          Array.from(c, (ci) => ci / n),
          dim,
        );
        const keep = 1 - cSum / n;
        for (let k = 0; k < dim; k++) v[k] = keep * v[k]! + pulled[k]!;
        for (let i = 0; i < n; i++) w[i] = w[i]! * (1 - cSum / n) + c[i]! / n;
      }
      const wSum = w.reduce((s, x) => s + x, 0);
      return {
        aggregate: Float32Array.from(v),
        diagnostics: valid.map((con, i) => ({
          id: con.id,
          accepted: true,
          weight: wSum > 0 ? w[i]! / wSum : 1 / n,
          score: dist[i]!,
          ...(c[i]! < 1 ? { reason: `clipped to τ = ${tau} around the centre (distance ${dist[i]!.toPrecision(4)})` } : {}),
        })),
      };
    });
    if (this.options.center === 'previous') this.previous = result.aggregate.slice();
    return result;
  }
}
