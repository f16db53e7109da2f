/**
 * Σ wᵢ·xᵢ over update vectors, accumulated in float64. Four inputs share each pass over the
 * accumulator, a quarter of the read-modify-write traffic of one pass per input — this loop is
 * the floor every averaging rule pays.
 */
import type { Vector } from '../core/vector.js';

export function weightedSum64(vectors: readonly Vector[], weights: readonly number[], dim: number): Float64Array {
  const acc = new Float64Array(dim);
  let k = 0;
  for (; k + 4 <= vectors.length; k += 4) {
    const a = vectors[k]!;
    const b = vectors[k + 1]!;
    const c = vectors[k + 2]!;
    const d = vectors[k + 3]!;
    const wa = weights[k]!;
    const wb = weights[k + 1]!;
    const wc = weights[k + 2]!;
    const wd = weights[k + 3]!;
    for (let i = 0; i < dim; i++) acc[i] = acc[i]! + wa * a[i]! + wb * b[i]! + wc * c[i]! + wd * d[i]!;
  }
  for (; k < vectors.length; k++) {
    const a = vectors[k]!;
    const wa = weights[k]!;
    for (let i = 0; i < dim; i++) acc[i] = acc[i]! + wa * a[i]!;
  }
  return acc;
}

/** Σ wᵢ·xᵢ rounded to float32. */
export function weightedSum(vectors: readonly Vector[], weights: readonly number[], dim: number): Float32Array {
  return Float32Array.from(weightedSum64(vectors, weights, dim));
}
