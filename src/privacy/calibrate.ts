/**
 * Noise calibration: the smallest noise multiplier z whose (ε, δ) after `steps` releases of the
 * Poisson-subsampled Gaussian (rate q) stays within a target ε. ε is decreasing in z, so we
 * bracket [lo, hi] with ε(lo) > target ≥ ε(hi) by doubling/halving, then bisect until
 * hi − lo ≤ relTol·hi and return hi: the result always meets the target, and the true minimum
 * lies within a relative distance relTol (default 1e-6) below it.
 */
import { fail } from '../core/errors.js';
import { DEFAULT_ORDERS, computeRdp, epsilonFromRdp, type EpsilonResult } from './rdp-accountant.js';

export interface CalibrationTarget {
  readonly epsilon: number;
  readonly delta: number;
  readonly samplingRate: number;
  readonly steps: number;
  readonly orders?: readonly number[];
  /** Relative bisection tolerance on z (default 1e-6). */
  readonly relTol?: number;
}

export interface Calibration {
  readonly noiseMultiplier: number;
  /** ε actually reached with that noise multiplier (≤ target) and its best order. */
  readonly epsilon: number;
  readonly order: number | null;
}

/** Noise multipliers above this are refused: the target is practically unreachable. */
const MAX_NOISE_MULTIPLIER = 1e6;
const MIN_NOISE_MULTIPLIER = 1e-3;

export function calibrateNoiseMultiplier(target: CalibrationTarget): Calibration {
  const { epsilon, delta, samplingRate: q, steps } = target;
  const orders = target.orders ?? DEFAULT_ORDERS;
  const relTol = target.relTol ?? 1e-6;
  if (!Number.isFinite(epsilon) || epsilon <= 0) fail('config', `target ε must be a positive number, got ${epsilon}`);
  if (!(delta > 0 && delta < 1)) fail('config', `δ must be in (0, 1), got ${delta}`, 'typical values are 1e-5 or 1/(number of records)');
  if (!(q >= 0 && q <= 1)) fail('config', `sampling rate must be in [0, 1], got ${q}`);
  if (!Number.isInteger(steps) || steps < 0) fail('config', `steps must be a whole number ≥ 0, got ${steps}`);
  if (!(relTol > 0 && relTol < 0.1)) fail('precondition', `relTol must be in (0, 0.1), got ${relTol}`);

  const epsAt = (z: number): EpsilonResult =>
    epsilonFromRdp(orders, computeRdp({ noiseMultiplier: z, samplingRate: q, steps }, orders), delta);

  // Even infinite noise leaves ε = min_α [log1p(−1/α) − log(δα)/(α−1)] > 0 with finitely many orders.
  const floor = epsilonFromRdp(orders, new Float64Array(orders.length), delta);
  if (floor.epsilon > epsilon) {
    fail(
      'config',
      `target ε = ${epsilon} is below ${floor.epsilon.toPrecision(4)}, the smallest ε the RDP accountant can certify with δ = ${delta} (largest order ${Math.max(...orders)})`,
      'raise ε or δ',
    );
  }
  if (steps === 0 || q === 0) return { noiseMultiplier: 0, ...floor };

  let hi = 1;
  let atHi = epsAt(hi);
  let lo = hi;
  while (atHi.epsilon > epsilon) {
    lo = hi;
    hi *= 2;
    if (hi > MAX_NOISE_MULTIPLIER) {
      fail(
        'config',
        `no noise multiplier up to ${MAX_NOISE_MULTIPLIER} reaches ε = ${epsilon} (δ = ${delta}, q = ${q}, ${steps} steps)`,
        'raise ε or δ, sample fewer records per step, or take fewer steps',
      );
    }
    atHi = epsAt(hi);
  }
  if (lo === hi) {
    // ε(1) already meets the target: halve down to a multiplier that does not.
    for (;;) {
      lo = hi / 2;
      if (lo < MIN_NOISE_MULTIPLIER) return { noiseMultiplier: hi, ...atHi };
      const atLo = epsAt(lo);
      if (atLo.epsilon > epsilon) break;
      hi = lo;
      atHi = atLo;
    }
  }
  while (hi - lo > relTol * hi) {
    const mid = 0.5 * (lo + hi);
    const atMid = epsAt(mid);
    if (atMid.epsilon > epsilon) lo = mid;
    else {
      hi = mid;
      atHi = atMid;
    }
  }
  return { noiseMultiplier: hi, ...atHi };
}
