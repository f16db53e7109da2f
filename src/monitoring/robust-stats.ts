/**
 * Robust statistics for anomaly detection: median, MAD and modified z-scores (Iglewicz & Hoaglin
 * 1993), which a few attackers cannot drag the way they drag a mean and standard deviation.
 */
import { fail } from '../core/errors.js';
import type { Vector } from '../core/vector.js';
import { medianRule, reduceColumns } from '../aggregation/coordinate-wise.js';

/** 1/Φ⁻¹(3/4): scales the MAD to estimate σ for normal data (Wang et al. 2019 use it as well). */
export const MAD_TO_SIGMA = 1.4826;

export function median(values: readonly number[]): number {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return NaN;
  const sorted = Float64Array.from(finite).sort();
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Median absolute deviation from the median (unscaled). */
export function mad(values: readonly number[], centre = median(values)): number {
  return median(values.map((v) => Math.abs(v - centre)));
}

/**
 * Robust z-scores: (x − median) / (1.4826·MAD). When more than half the values coincide the MAD is
 * 0; the scale then falls back to the mean absolute deviation (×1.2533, its σ-consistency factor),
 * and to `floor` when everything is identical, so one deviant among equals still scores high
 * instead of dividing by zero.
 */
export function robustZ(values: readonly number[], floor = 1e-12): number[] {
  const centre = median(values);
  let scale = MAD_TO_SIGMA * mad(values, centre);
  if (!(scale > floor)) {
    const finite = values.filter((v) => Number.isFinite(v));
    const meanAbs = finite.reduce((s, v) => s + Math.abs(v - centre), 0) / Math.max(1, finite.length);
    scale = Math.max(1.2533 * meanAbs, floor);
  }
  return values.map((v) => (v - centre) / scale);
}

/** Coordinate-wise median of equally long vectors: the robust centre of a round's updates. */
export function coordinateMedian(vectors: readonly Vector[]): Vector {
  if (vectors.length === 0) fail('precondition', 'the coordinate-wise median needs at least one vector');
  const dim = vectors[0]!.length;
  for (const [k, v] of vectors.entries()) if (v.length !== dim) fail('shape', `vector ${k} has length ${v.length}, expected ${dim}`);
  // The aggregation module's blocked quickselect (the Median aggregator's own kernel).
  return reduceColumns(vectors, dim, medianRule).aggregate;
}
