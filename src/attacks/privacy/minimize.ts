/**
 * Unconstrained minimisers on Float64Array for the reconstruction attacks (the objective and its
 * gradient come from tfjs; the optimiser state stays in double precision in JS):
 *  - L-BFGS (Nocedal 1980; two-loop recursion, H0 = sᵀy/yᵀy) with an Armijo backtracking line
 *    search — DLG's optimiser;
 *  - Adam (Kingma & Ba 2015) with an optional projection after each step (box constraints) and
 *    the step decay Geiping et al. 2020 used (×0.1 at 3/8, 5/8 and 7/8 of the iterations).
 * Both keep and return the best point seen (objectives here are noisy in float32).
 */
import { fail } from '../../core/errors.js';

export type Objective = (x: Float64Array) => { f: number; g: Float64Array };

export interface MinimizeResult {
  readonly x: Float64Array;
  readonly f: number;
  readonly iterations: number;
  readonly evaluations: number;
  /** Objective after each iteration. */
  readonly trace: readonly number[];
  readonly stopReason: 'max-iterations' | 'converged' | 'line-search' | 'non-finite';
}

export interface LbfgsOptions {
  readonly maxIterations: number;
  /** Number of (s, y) pairs kept (default 100, as DLG's setting). */
  readonly history?: number;
  /** Stop when ‖g‖∞ is at most this (default 0: only at an exact stationary point). */
  readonly gradTol?: number;
  /** Stop when a step changes f by at most this fraction of |f| (default 0: never). */
  readonly changeTol?: number;
  readonly maxLineSearch?: number;
  /** Budget of objective evaluations (default ⌈1.25·maxIterations⌉ + 25, line searches included). */
  readonly maxEvaluations?: number;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

function maxAbs(a: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

function allFinite(a: Float64Array): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return false;
  return true;
}

export function minimizeLbfgs(fg: Objective, x0: Float64Array, options: LbfgsOptions): MinimizeResult {
  const m = options.history ?? 100;
  const gradTol = options.gradTol ?? 0;
  const changeTol = options.changeTol ?? 0;
  const maxLs = options.maxLineSearch ?? 25;
  const maxEvals = options.maxEvaluations ?? Math.ceil(1.25 * options.maxIterations) + 25;
  if (!Number.isInteger(options.maxIterations) || options.maxIterations < 0) fail('config', `L-BFGS iterations must be a whole number ≥ 0, got ${options.maxIterations}`);
  const n = x0.length;
  let x = Float64Array.from(x0);
  let { f, g } = fg(x);
  let evaluations = 1;
  if (!Number.isFinite(f) || !allFinite(g)) return { x, f, iterations: 0, evaluations, trace: [], stopReason: 'non-finite' };
  const S: Float64Array[] = [];
  const Y: Float64Array[] = [];
  const rho: number[] = [];
  const trace: number[] = [];
  const alpha = new Float64Array(m);
  let stopReason: MinimizeResult['stopReason'] = 'max-iterations';
  let iter = 0;
  for (; iter < options.maxIterations; iter++) {
    if (maxAbs(g) <= gradTol) {
      stopReason = 'converged';
      break;
    }
    // Two-loop recursion: d = −H·g.
    const d = Float64Array.from(g);
    for (let i = S.length - 1; i >= 0; i--) {
      alpha[i] = rho[i]! * dot(S[i]!, d);
      const yi = Y[i]!;
      const a = alpha[i]!;
      for (let k = 0; k < n; k++) d[k]! -= a * yi[k]!;
    }
    let t = 1;
    if (S.length > 0) {
      const last = S.length - 1;
      const gamma = dot(S[last]!, Y[last]!) / dot(Y[last]!, Y[last]!);
      for (let k = 0; k < n; k++) d[k]! *= gamma;
      for (let i = 0; i < S.length; i++) {
        const beta = rho[i]! * dot(Y[i]!, d);
        const si = S[i]!;
        const c = alpha[i]! - beta;
        for (let k = 0; k < n; k++) d[k]! += c * si[k]!;
      }
    } else {
      let l1 = 0;
      for (let k = 0; k < n; k++) l1 += Math.abs(g[k]!);
      t = Math.min(1, 1 / l1);
    }
    for (let k = 0; k < n; k++) d[k] = -d[k]!;
    let slope = dot(g, d);
    if (!(slope < 0)) {
      // Not a descent direction (curvature information went stale): restart from −g.
      S.length = 0;
      Y.length = 0;
      rho.length = 0;
      for (let k = 0; k < n; k++) d[k] = -g[k]!;
      slope = dot(g, d);
      let l1 = 0;
      for (let k = 0; k < n; k++) l1 += Math.abs(g[k]!);
      t = Math.min(1, 1 / l1);
    }
    // Armijo backtracking.
    let accepted = false;
    let xNew = x;
    let fNew = f;
    let gNew = g;
    for (let ls = 0; ls < maxLs && evaluations < maxEvals; ls++) {
      const cand = new Float64Array(n);
      for (let k = 0; k < n; k++) cand[k] = x[k]! + t * d[k]!;
      const r = fg(cand);
      evaluations++;
      if (Number.isFinite(r.f) && allFinite(r.g) && r.f <= f + 1e-4 * t * slope) {
        xNew = cand;
        fNew = r.f;
        gNew = r.g;
        accepted = true;
        break;
      }
      t *= 0.5;
    }
    if (!accepted) {
      stopReason = evaluations >= maxEvals ? 'max-iterations' : 'line-search';
      break;
    }
    const s = new Float64Array(n);
    const y = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      s[k] = xNew[k]! - x[k]!;
      y[k] = gNew[k]! - g[k]!;
    }
    const sy = dot(s, y);
    // Keep the pair only with positive curvature (relative test: the objective's scale is arbitrary).
    if (sy > 1e-10 * Math.sqrt(dot(s, s) * dot(y, y))) {
      if (S.length === m) {
        S.shift();
        Y.shift();
        rho.shift();
      }
      S.push(s);
      Y.push(y);
      rho.push(1 / sy);
    }
    const change = Math.abs(f - fNew);
    x = xNew;
    f = fNew;
    g = gNew;
    trace.push(f);
    if (changeTol > 0 && change <= changeTol * Math.abs(f)) {
      iter++;
      stopReason = 'converged';
      break;
    }
  }
  return { x, f, iterations: iter, evaluations, trace, stopReason };
}

export interface AdamOptions {
  readonly iterations: number;
  readonly learningRate: number;
  readonly beta1?: number;
  readonly beta2?: number;
  readonly epsilon?: number;
  /** Multiply the step by 0.1 at 3/8, 5/8 and 7/8 of the iterations (Geiping et al. 2020). */
  readonly stepDecay?: boolean;
  /** Applied in place after every step (e.g. clamp pixels to [0, 1]). */
  readonly project?: (x: Float64Array) => void;
}

export function minimizeAdam(fg: Objective, x0: Float64Array, options: AdamOptions): MinimizeResult {
  const { iterations, learningRate } = options;
  if (!Number.isInteger(iterations) || iterations < 0) fail('config', `Adam iterations must be a whole number ≥ 0, got ${iterations}`);
  if (!(learningRate > 0)) fail('config', `Adam learning rate must be positive, got ${learningRate}`);
  const b1 = options.beta1 ?? 0.9;
  const b2 = options.beta2 ?? 0.999;
  const eps = options.epsilon ?? 1e-8;
  const n = x0.length;
  const x = Float64Array.from(x0);
  options.project?.(x);
  const m1 = new Float64Array(n);
  const m2 = new Float64Array(n);
  let best = Float64Array.from(x);
  let bestF = Infinity;
  const trace: number[] = [];
  let stopReason: MinimizeResult['stopReason'] = 'max-iterations';
  let evaluations = 0;
  const milestones = [3 / 8, 5 / 8, 7 / 8].map((p) => Math.floor(p * iterations));
  for (let t = 1; t <= iterations; t++) {
    const { f, g } = fg(x);
    evaluations++;
    if (!Number.isFinite(f) || !allFinite(g)) {
      stopReason = 'non-finite';
      break;
    }
    if (f < bestF) {
      bestF = f;
      best = Float64Array.from(x);
    }
    trace.push(f);
    const decay = options.stepDecay ? 0.1 ** milestones.filter((ms) => t > ms).length : 1;
    const lr = (learningRate * decay * Math.sqrt(1 - b2 ** t)) / (1 - b1 ** t);
    for (let k = 0; k < n; k++) {
      const gk = g[k]!;
      m1[k] = b1 * m1[k]! + (1 - b1) * gk;
      m2[k] = b2 * m2[k]! + (1 - b2) * gk * gk;
      x[k]! -= (lr * m1[k]!) / (Math.sqrt(m2[k]!) + eps);
    }
    options.project?.(x);
  }
  if (stopReason !== 'non-finite') {
    const { f } = fg(x);
    evaluations++;
    if (Number.isFinite(f) && f < bestF) {
      bestF = f;
      best = Float64Array.from(x);
    }
  }
  return { x: best, f: bestF, iterations: trace.length, evaluations, trace, stopReason };
}
