/**
 * Fixed-point encoding of weighted float updates into Z_(2^m) for secure aggregation, chosen so
 * that the sum of all n participants never wraps:
 *
 *   L = floor((2^m − 1) / n)           field levels one participant may use per coordinate
 *   s = L / (2 · c · W)                 scale (c: clip, W: maxWeight)
 *   q_i = SR(w · (clip(x_i, −c, c) + c) · s)   ∈ [0, L]
 *   q_{d} = w                          the weight, as an extra coordinate (w ≤ W ≤ L)
 *
 * so Σ q ≤ n·L ≤ 2^m − 1. SR is unbiased stochastic rounding (floor, plus 1 with probability equal
 * to the fraction) driven by a CSPRNG, so E[q] is exact. The coordinator only learns Σ w·x and Σ w:
 *
 *   Σ w·x ≈ Σ q / s − c · Σ w,   mean = Σ w·x / Σ w.
 *
 * Per coordinate of the sum the rounding error has mean 0 and standard deviation ≤ √n / (2s).
 */
import { randomFillSync } from 'node:crypto';
import { fail } from '../core/errors.js';
import { firstNonFinite } from '../core/vector.js';

export interface QuantisationParams {
  /** Coordinates are clipped to [−clip, clip]. */
  readonly clip: number;
  /** Largest allowed weight (e.g. the sample-count cap); weights are integers in [0, maxWeight]. */
  readonly maxWeight: number;
  /** n: how many updates the sum may contain. */
  readonly participants: number;
  readonly modulusBits: number;
}

export function levelsPerParticipant(modulusBits: number, participants: number): number {
  return Math.floor((2 ** modulusBits - 1) / participants);
}

export function quantisationScale(p: QuantisationParams): number {
  return levelsPerParticipant(p.modulusBits, p.participants) / (2 * p.clip * p.maxWeight);
}

/** w·x quantised, followed by w: a field vector of length d + 1. */
export function quantiseUpdate(update: Float32Array, weight: number, p: QuantisationParams): Uint32Array {
  if (!Number.isInteger(weight) || weight < 0 || weight > p.maxWeight) {
    fail('data', `weight must be an integer in [0, ${p.maxWeight}], got ${weight}`, 'cap sample counts at the session maxWeight');
  }
  const bad = firstNonFinite(update);
  if (bad !== -1) fail('non-finite', `update has a non-finite value at index ${bad}`, 'clip or drop the update before secure aggregation');
  const d = update.length;
  const s = quantisationScale(p);
  const c = p.clip;
  const ws = weight * s;
  const uniform = new Uint32Array(d);
  randomFillSync(uniform);
  const out = new Uint32Array(d + 1);
  for (let i = 0; i < d; i++) {
    const x = update[i]!;
    const clipped = x > c ? c : x < -c ? -c : x;
    const v = (clipped + c) * ws;
    const fl = Math.floor(v);
    // Round up with probability v − fl: compare a uniform 32-bit word with the scaled fraction.
    out[i] = fl + (uniform[i]! < (v - fl) * 4294967296 ? 1 : 0);
  }
  out[d] = weight;
  return out;
}

export interface DequantisedSum {
  /** Σ w·x over the survivors. */
  readonly weightedSum: Float32Array;
  /** Σ w over the survivors. */
  readonly totalWeight: number;
  /** Σ w·x / Σ w (all zeros when the total weight is 0). */
  readonly mean: Float32Array;
}

export function dequantiseSum(sum: Uint32Array, p: QuantisationParams): DequantisedSum {
  if (sum.length < 2) fail('shape', `a quantised sum has at least 2 words (values + weight), got ${sum.length}`);
  const d = sum.length - 1;
  const totalWeight = sum[d]!;
  if (totalWeight > p.participants * p.maxWeight) {
    fail('protocol', `sum of weights ${totalWeight} exceeds n·maxWeight = ${p.participants * p.maxWeight}: the sum is corrupted`);
  }
  const s = quantisationScale(p);
  const offset = p.clip * totalWeight;
  const weightedSum = new Float32Array(d);
  const mean = new Float32Array(d);
  for (let i = 0; i < d; i++) {
    const v = sum[i]! / s - offset;
    weightedSum[i] = v;
    mean[i] = totalWeight > 0 ? v / totalWeight : 0;
  }
  return { weightedSum, totalWeight, mean };
}
