/**
 * "A Little Is Enough" (Baruch et al. 2019): all attackers send mean − z·std of the reference
 * updates, coordinate-wise — small enough to pass as honest, consistent enough to steer. The paper's
 * z is the largest shift that still leaves enough honest updates "behind" the attackers:
 *   s = ⌊n/2⌋ + 1 − f,  z = Φ⁻¹((n − f − s) / (n − f))        (n = 50, f = 10 → z ≈ 0.2534)
 * `direction: 'plus'` sends mean + z·std instead (ByzFL's convention for its τ).
 */
import { fail } from '../core/errors.js';
import { inverseNormalCdf } from './inverse-normal.js';
import { checkContext, copies, meanAndStd } from './statistics.js';
import type { UpdateAttack } from './types.js';

export interface AlieOptions {
  /** A fixed z; when absent, the paper's formula from n and f. */
  readonly z?: number | undefined;
  readonly direction: 'minus' | 'plus';
  /** 1: sample standard deviation (as in the paper's experiments and ByzFL); 0: population. */
  readonly ddof: 0 | 1;
}

/** Baruch et al.'s z for n participants of which f are malicious. */
export function alieZ(n: number, f: number): number {
  if (!Number.isInteger(n) || !Number.isInteger(f) || f < 0 || n <= f) fail('config', `ALIE needs integers 0 ≤ f < n, got n = ${n}, f = ${f}`);
  const s = Math.floor(n / 2) + 1 - f;
  const p = (n - f - s) / (n - f);
  if (!(p > 0 && p < 1)) {
    fail(
      'precondition',
      `ALIE's z is undefined for n = ${n}, f = ${f}: Φ⁻¹((n − f − s)/(n − f)) needs 0 < ${p} < 1 (s = ⌊n/2⌋ + 1 − f = ${s})`,
      'use fewer attackers than half the participants and n ≥ 3, or set z explicitly',
    );
  }
  return inverseNormalCdf(p);
}

export function alie(options: AlieOptions): UpdateAttack {
  return {
    kind: 'update',
    name: 'alie',
    craft(ctx) {
      const dim = checkContext('ALIE', ctx, options.ddof + 1);
      const z = options.z ?? alieZ(ctx.numTotal, ctx.numMalicious);
      const sign = options.direction === 'minus' ? -1 : 1;
      const { mean, std } = meanAndStd(ctx.benign, options.ddof);
      const out = new Float32Array(dim);
      for (let k = 0; k < dim; k++) out[k] = mean[k]! + sign * z * std[k]!;
      return copies(out, ctx.numMalicious);
    },
  };
}
