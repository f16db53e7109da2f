/**
 * FoolsGold (Fung, Yoon & Beschastnikh 2020). Sybils pushing one poisoned objective send updates
 * that stay more similar to each other, round after round, than honest participants' do. Per
 * participant we keep the sum of all its updates (its history) and, each round:
 *   1. csᵢⱼ = cos(Hᵢ, Hⱼ) among this round's participants; vᵢ = maxⱼ csᵢⱼ (the diagonal counts as 0,
 *      so vᵢ ≥ 0, as in the authors' reference implementation);
 *   2. pardoning: if vⱼ > vᵢ then csᵢⱼ ← csᵢⱼ·vᵢ/vⱼ (an honest client that merely resembles a Sybil);
 *   3. αᵢ = 1 − maxⱼ csᵢⱼ, clipped to [0, 1], divided by max α, 1 mapped to 0.99;
 *   4. αᵢ ← κ·(ln(αᵢ/(1 − αᵢ)) + 0.5), clipped to [0, 1] (the paper's logit with confidence κ).
 * The aggregate is the α-weighted mean of this round's updates (normalised, so the step does not
 * shrink with the number of Sybils). The paper's optional feature-importance weighting of the
 * output layer is not implemented. Identical histories score as Sybils by design — two honest
 * participants sending the same update are zeroed too. Stateful: one instance per training run.
 */
import { fail } from '../core/errors.js';
import { gramMatrix } from './pairwise-distances.js';
import type { AggregationContext, AggregationResult, Aggregator, Contribution } from './types.js';
import { aggregateValidated, atLeast } from './validate.js';
import { weightedSum } from './weighted-sum.js';

export interface FoolsGoldOptions {
  /** κ, the logit confidence (paper default 1). */
  readonly confidence: number;
}

export class FoolsGold implements Aggregator {
  readonly name = 'foolsgold';
  private readonly history = new Map<string, Float32Array>();

  constructor(private readonly options: FoolsGoldOptions) {}

  requirement() {
    return atLeast(1, 'at least one contribution');
  }

  /** This participant's accumulated update (a copy), if it has contributed before. */
  historyOf(id: string): Float32Array | undefined {
    return this.history.get(id)?.slice();
  }

  aggregate(contributions: readonly Contribution[], ctx: AggregationContext): AggregationResult {
    return aggregateValidated('FoolsGold', contributions, ctx, () => this.requirement(), (valid, _ctx, dim) => {
      const n = valid.length;
      const histories = valid.map((c) => {
        let h = this.history.get(c.id);
        if (h === undefined) {
          h = new Float32Array(dim);
          this.history.set(c.id, h);
        } else if (h.length !== dim) {
          fail('shape', `FoolsGold history of ${c.id} has length ${h.length}, updates have ${dim}`, 'use a new aggregator instance per model');
        }
        for (let k = 0; k < dim; k++) h[k] = h[k]! + c.update[k]!;
        return h;
      });
      const g = gramMatrix(histories);
      const norms = histories.map((_, i) => Math.sqrt(g[i * n + i]!));
      const cs = new Float64Array(n * n);
      const v = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        let vi = 0;
        for (let j = 0; j < n; j++) {
          if (i === j) continue;
          const denom = norms[i]! * norms[j]!;
          const s = denom > 0 ? g[i * n + j]! / denom : 0;
          cs[i * n + j] = s;
          if (s > vi) vi = s;
        }
        v[i] = vi;
      }
      const alpha = new Float64Array(n);
      const mostSimilar = new Array<number>(n).fill(-1);
      for (let i = 0; i < n; i++) {
        let m = 0;
        for (let j = 0; j < n; j++) {
          if (i === j) continue;
          let s = cs[i * n + j]!;
          if (v[j]! > v[i]!) s *= v[i]! / v[j]!;
          if (s > m) {
            m = s;
            mostSimilar[i] = j;
          }
        }
        alpha[i] = Math.min(1, Math.max(0, 1 - m));
      }
      const maxAlpha = Math.max(...alpha);
      for (let i = 0; i < n; i++) {
        let a = maxAlpha > 0 ? alpha[i]! / maxAlpha : 0;
        if (a === 1) a = 0.99;
        const logit = a > 0 ? this.options.confidence * (Math.log(a / (1 - a)) + 0.5) : 0;
        alpha[i] = Number.isFinite(logit) ? Math.min(1, Math.max(0, logit)) : logit > 0 ? 1 : 0;
      }
      const total = alpha.reduce((s, a) => s + a, 0);
      const kept = valid.map((_, i) => i).filter((i) => total > 0 && alpha[i]! > 0);
      const aggregate = weightedSum(
        kept.map((i) => valid[i]!.update),
        kept.map((i) => alpha[i]! / total),
        dim,
      );
      return {
        aggregate,
        diagnostics: valid.map((c, i) => {
          const score = alpha[i]!;
          if (score > 0 && total > 0) return { id: c.id, accepted: true, weight: score / total, score };
          const j = mostSimilar[i]!;
          const like = j >= 0 ? ` (cosine ${cs[i * n + j]!.toFixed(3)} with ${valid[j]!.id})` : '';
          return { id: c.id, accepted: false, weight: 0, score, reason: `update history too similar to another participant's${like}: likely Sybil` };
        }),
      };
    });
  }
}
