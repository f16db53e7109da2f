/**
 * Min-max and min-sum (Shejwalkar & Houmansadr, NDSS 2021, the AGR-agnostic attacks). All attackers
 * send m = μ + γ·p, where μ is the mean of the reference updates and p a perturbation direction
 * ('unit-vector': −μ/‖μ‖, 'std': −σ, 'sign': −sign(μ)), with the largest γ such that
 *   min-max: maxᵢ ‖m − xᵢ‖² ≤ maxᵢ,ⱼ ‖xᵢ − xⱼ‖²    (no farther from any update than two honest ones are)
 *   min-sum: Σᵢ ‖m − xᵢ‖² ≤ maxᵢ Σⱼ ‖xᵢ − xⱼ‖²
 * The paper finds γ by binary search. Both constraints are quadratics in γ —
 * ‖μ + γp − xᵢ‖² = aᵢ + 2γbᵢ + γ²c with aᵢ = ‖μ − xᵢ‖², bᵢ = p·(μ − xᵢ), c = ‖p‖² — and hold at γ = 0,
 * so 'exact' (the default) solves for the largest root directly; 'bisection' runs the paper's search
 * on the same constraint, and the tests check that the two agree.
 */
import { pairwiseSquaredDistances } from '../aggregation/pairwise-distances.js';
import type { Vector } from '../core/vector.js';
import { checkContext, copies, meanAndStd } from './statistics.js';
import type { UpdateAttack } from './types.js';

export type Perturbation = 'unit-vector' | 'std' | 'sign';
export type MinMaxObjective = 'min-max' | 'min-sum';

export interface MinMaxOptions {
  readonly perturbation: Perturbation;
  readonly search: 'exact' | 'bisection';
  /** Bisection only: the starting γ and the stopping step (the paper: 10 and 1e-5). */
  readonly gammaInit: number;
  readonly tolerance: number;
}

export interface GammaSolution {
  readonly gamma: number;
  readonly mean: Float64Array;
  readonly direction: Float64Array;
  /** The constraint's right-hand side (the benign maximum). */
  readonly threshold: number;
}

function perturbation(kind: Perturbation, mean: Float64Array, std: Float64Array): Float64Array {
  const p = new Float64Array(mean.length);
  if (kind === 'std') {
    for (let k = 0; k < p.length; k++) p[k] = -std[k]!;
  } else if (kind === 'sign') {
    for (let k = 0; k < p.length; k++) p[k] = -Math.sign(mean[k]!);
  } else {
    let sq = 0;
    for (const m of mean) sq += m * m;
    const norm = Math.sqrt(sq);
    if (norm > 0) for (let k = 0; k < p.length; k++) p[k] = -mean[k]! / norm;
  }
  return p;
}

/** The largest admissible γ for the given reference updates (n ≥ 2). */
export function solveGamma(benign: readonly Vector[], objective: MinMaxObjective, options: MinMaxOptions): GammaSolution {
  const n = benign.length;
  const { mean, std } = meanAndStd(benign, 1);
  const p = perturbation(options.perturbation, mean, std);
  const dim = mean.length;
  let c = 0;
  for (let k = 0; k < dim; k++) c += p[k]! * p[k]!;
  const a = new Float64Array(n);
  const b = new Float64Array(n);
  benign.forEach((x, i) => {
    let ai = 0;
    let bi = 0;
    for (let k = 0; k < dim; k++) {
      const d = mean[k]! - x[k]!;
      ai += d * d;
      bi += p[k]! * d;
    }
    a[i] = ai;
    b[i] = bi;
  });
  const dist = pairwiseSquaredDistances(benign);
  let threshold = 0;
  if (objective === 'min-max') {
    for (const d of dist) threshold = Math.max(threshold, d);
  } else {
    for (let i = 0; i < n; i++) {
      let row = 0;
      for (let j = 0; j < n; j++) row += dist[i * n + j]!;
      threshold = Math.max(threshold, row);
    }
  }
  // The constraint as a function of γ: the left-hand side minus the threshold, ≤ 0 when admissible.
  const excess = (g: number): number => {
    if (objective === 'min-max') {
      let worst = -Infinity;
      for (let i = 0; i < n; i++) worst = Math.max(worst, a[i]! + 2 * g * b[i]! + g * g * c);
      return worst - threshold;
    }
    let sum = 0;
    for (let i = 0; i < n; i++) sum += a[i]! + 2 * g * b[i]! + g * g * c;
    return sum - threshold;
  };
  let gamma = 0;
  if (c > 0) {
    if (options.search === 'exact') {
      // Largest root of c·γ² + 2bγ + (a − T) = 0; a ≤ T holds at γ = 0, so the root is real and ≥ 0.
      const root = (bb: number, slack: number, cc: number) => (-bb + Math.sqrt(Math.max(0, bb * bb + cc * slack))) / cc;
      if (objective === 'min-max') {
        gamma = Infinity;
        for (let i = 0; i < n; i++) gamma = Math.min(gamma, root(b[i]!, threshold - a[i]!, c));
      } else {
        const A = a.reduce((s, x) => s + x, 0);
        const B = b.reduce((s, x) => s + x, 0);
        gamma = root(B, threshold - A, n * c);
      }
    } else {
      // The paper's search: move γ by a halving step, up after a success, down after a failure.
      let g = options.gammaInit;
      let step = options.gammaInit / 2;
      while (Math.abs(step) > options.tolerance) {
        if (excess(g) <= 0) {
          gamma = Math.max(gamma, g);
          g += step;
        } else g -= step;
        step /= 2;
      }
      if (excess(g) <= 0) gamma = Math.max(gamma, g);
    }
  }
  return { gamma, mean, direction: p, threshold };
}

export function minMax(objective: MinMaxObjective, options: MinMaxOptions): UpdateAttack {
  return {
    kind: 'update',
    name: objective,
    craft(ctx) {
      const dim = checkContext(objective, ctx, 2);
      const { gamma, mean, direction } = solveGamma(ctx.benign, objective, options);
      const out = new Float32Array(dim);
      for (let k = 0; k < dim; k++) out[k] = mean[k]! + gamma * direction[k]!;
      return copies(out, ctx.numMalicious);
    },
  };
}
