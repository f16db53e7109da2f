/**
 * Math on flat parameter vectors. Every module downstream of the model (aggregation, DP, secure
 * aggregation, attacks) speaks Float32Array; these helpers keep the loops in one place.
 * Accumulations use float64 locals so long sums do not drift.
 */
import { fail } from './errors.js';

export type Vector = Float32Array;

export function zeros(dim: number): Vector {
  return new Float32Array(dim);
}

export function assertSameDim(a: ArrayLike<number>, b: ArrayLike<number>, what = 'vectors'): void {
  if (a.length !== b.length) fail('shape', `${what} have different lengths: ${a.length} vs ${b.length}`);
}

export function add(a: Vector, b: Vector): Vector {
  assertSameDim(a, b);
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! + b[i]!;
  return out;
}

export function sub(a: Vector, b: Vector): Vector {
  assertSameDim(a, b);
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! - b[i]!;
  return out;
}

export function scale(a: Vector, s: number): Vector {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! * s;
  return out;
}

/** y += alpha * x, in place. */
export function axpyInPlace(y: Vector, alpha: number, x: Vector): void {
  assertSameDim(y, x);
  for (let i = 0; i < y.length; i++) y[i] = y[i]! + alpha * x[i]!;
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assertSameDim(a, b);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

export function l2Norm(a: ArrayLike<number>): number {
  return Math.sqrt(dot(a, a));
}

export function squaredDistance(a: Vector, b: Vector): number {
  assertSameDim(a, b);
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    s += d * d;
  }
  return s;
}

export function cosineSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const na = l2Norm(a);
  const nb = l2Norm(b);
  if (na === 0 || nb === 0) return 0;
  return dot(a, b) / (na * nb);
}

/** Weighted mean of vectors; weights need not be normalised but must sum to > 0. */
export function weightedMean(vectors: readonly Vector[], weights: readonly number[]): Vector {
  if (vectors.length === 0) fail('precondition', 'cannot average zero vectors');
  if (vectors.length !== weights.length) fail('shape', `${vectors.length} vectors but ${weights.length} weights`);
  const dim = vectors[0]!.length;
  let total = 0;
  for (const w of weights) total += w;
  if (!(total > 0)) fail('precondition', `weights must sum to a positive number, got ${total}`);
  const acc = new Float64Array(dim);
  vectors.forEach((v, k) => {
    if (v.length !== dim) fail('shape', `vector ${k} has length ${v.length}, expected ${dim}`);
    const w = weights[k]! / total;
    for (let i = 0; i < dim; i++) acc[i] = acc[i]! + w * v[i]!;
  });
  return Float32Array.from(acc);
}

export function mean(vectors: readonly Vector[]): Vector {
  return weightedMean(vectors, vectors.map(() => 1));
}

/** Index of the first NaN/±Inf entry, or -1. */
export function firstNonFinite(a: Vector): number {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) return i;
  return -1;
}

/** Scale a vector down so its L2 norm is at most `bound` (returns the input when already within). */
export function clipToNorm(a: Vector, bound: number): { clipped: Vector; norm: number; factor: number } {
  const norm = l2Norm(a);
  if (norm <= bound || norm === 0) return { clipped: a, norm, factor: 1 };
  const factor = bound / norm;
  return { clipped: scale(a, factor), norm, factor };
}
