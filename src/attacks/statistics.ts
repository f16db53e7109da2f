/**
 * Coordinate-wise statistics of the reference updates an attacker sees, and the input checks every
 * update attack shares.
 */
import { fail } from '../core/errors.js';
import type { Vector } from '../core/vector.js';
import type { UpdateAttackContext } from './types.js';

/** Check the context and return the update dimension. */
export function checkContext(name: string, ctx: UpdateAttackContext, minBenign = 0): number {
  const dim = ctx.own.length;
  if (!Number.isInteger(ctx.numMalicious) || ctx.numMalicious < 1) {
    fail('config', `${name}: numMalicious must be a positive integer, got ${ctx.numMalicious}`);
  }
  if (!Number.isInteger(ctx.numTotal) || ctx.numTotal < ctx.numMalicious) {
    fail('config', `${name}: numTotal (${ctx.numTotal}) must be an integer ≥ numMalicious (${ctx.numMalicious})`);
  }
  if (ctx.benign.length < minBenign) {
    fail(
      'precondition',
      `${name} needs at least ${minBenign} reference updates, got ${ctx.benign.length}`,
      'make the attack omniscient or give it at least that many malicious participants',
    );
  }
  ctx.benign.forEach((v, i) => {
    if (v.length !== dim) fail('shape', `${name}: reference update ${i} has length ${v.length}, own update has ${dim}`);
  });
  if (ctx.ownAll !== undefined && ctx.ownAll.length !== ctx.numMalicious) {
    fail('shape', `${name}: ownAll has ${ctx.ownAll.length} updates for ${ctx.numMalicious} malicious participants`);
  }
  return dim;
}

/** The k-th malicious participant's own honest update. */
export function ownOf(ctx: UpdateAttackContext, k: number): Vector {
  return ctx.ownAll?.[k] ?? ctx.own;
}

/** Coordinate-wise mean, and standard deviation with `ddof` (1 = sample std). */
export function meanAndStd(vectors: readonly Vector[], ddof: 0 | 1): { mean: Float64Array; std: Float64Array } {
  const n = vectors.length;
  const dim = vectors[0]?.length ?? 0;
  const mean = new Float64Array(dim);
  for (const v of vectors) for (let k = 0; k < dim; k++) mean[k] = mean[k]! + v[k]!;
  for (let k = 0; k < dim; k++) mean[k] = mean[k]! / n;
  const std = new Float64Array(dim);
  if (n - ddof > 0) {
    for (const v of vectors) {
      for (let k = 0; k < dim; k++) {
        const d = v[k]! - mean[k]!;
        std[k] = std[k]! + d * d;
      }
    }
    for (let k = 0; k < dim; k++) std[k] = Math.sqrt(std[k]! / (n - ddof));
  }
  return { mean, std };
}

/** `count` copies of one vector (colluding attackers send the same update). */
export function copies(v: Vector, count: number): Vector[] {
  return Array.from({ length: count }, () => v.slice());
}
