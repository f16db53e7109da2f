/**
 * Coordinator-side Gaussian noise for DP-FedAvg (McMahan, Ramage, Talwar & Zhang 2018, "Learning
 * differentially private recurrent language models"), the fixed-denominator estimator:
 *
 *   Δ̃ = ( Σ_{k ∈ S} clip_C(Δ_k) + N(0, (z·C)² I) ) / m,   m = q·N,
 *
 * where S is a Poisson sample (each of the N participants independently with probability q) and
 * m = q·N is the *expected* number of participants — a constant, not |S|. With a fixed
 * denominator and uniform weights, adding or removing one participant changes the sum by at most
 * C, so the released value is one step of the Poisson-subsampled Gaussian mechanism with noise
 * multiplier z: exactly what RdpAccountant accounts. (Dividing by the realised |S|, or weighting
 * by sample counts, would change the sensitivity and void that analysis.) Per coordinate, the
 * noise on the mean has std z·C/m.
 */
import { fail } from '../core/errors.js';
import { firstNonFinite, scale, type Vector } from '../core/vector.js';
import type { StageContext, UpdateStage } from '../federation/stages.js';
import { addGaussianNoise } from './secure-gaussian.js';

export interface CentralNoiseOptions {
  /**
   * z for the update noise. With adaptive clipping pass `AdaptiveClipping.updateNoiseMultiplier`
   * (z_Δ), not the accounted z.
   */
  readonly noiseMultiplier: number;
  /** C used by the participants this round (a function when it adapts). */
  readonly clipNorm: number | ((ctx: StageContext) => number);
  /** m = q·N, the expected number of participants per round. */
  readonly expectedParticipants: number;
  /**
   * What the stage receives: the plain (unweighted) mean of the clipped updates over
   * ctx.contributors participants (default), or their sum (e.g. from secure aggregation).
   */
  readonly input?: 'uniform-mean' | 'sum';
}

/** Noise std per coordinate on the released mean: z·C/m. */
export function centralNoiseStd(noiseMultiplier: number, clipNorm: number, expectedParticipants: number): number {
  return (noiseMultiplier * clipNorm) / expectedParticipants;
}

export function centralGaussianNoiseStage(options: CentralNoiseOptions): UpdateStage {
  const { noiseMultiplier: zm, expectedParticipants: m } = options;
  if (!Number.isFinite(zm) || zm <= 0) fail('config', `noise multiplier must be a positive number, got ${zm}`);
  if (!Number.isFinite(m) || m <= 0) {
    fail('config', `expected participants per round (q·N) must be positive, got ${m}`, 'check the sampling rate and the number of participants');
  }
  const input = options.input ?? 'uniform-mean';
  return {
    name: 'dp-fedavg-noise',
    apply(aggregate: Vector, ctx: StageContext): Vector {
      const c = typeof options.clipNorm === 'function' ? options.clipNorm(ctx) : options.clipNorm;
      if (!Number.isFinite(c) || c <= 0) fail('config', `clip norm must be a positive number, got ${c}`);
      const bad = firstNonFinite(aggregate);
      if (bad >= 0) fail('non-finite', `round ${ctx.round} aggregate has a non-finite entry at index ${bad}`);
      if (!Number.isInteger(ctx.contributors) || ctx.contributors < 0) {
        fail('precondition', `contributors must be a whole number ≥ 0, got ${ctx.contributors}`);
      }
      // Σ clipped updates / m (the sum of nobody is 0; the noise is added even then).
      const sumScale = input === 'sum' ? 1 / m : ctx.contributors / m;
      return addGaussianNoise(scale(aggregate, sumScale), centralNoiseStd(zm, c, m));
    },
  };
}
