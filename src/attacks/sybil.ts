/**
 * Sybil attack: one adversary behind k identities sends k near-identical copies of one poisoned
 * update (a base attack's output) plus tiny independent noise, so the copies are not byte-equal
 * but stay far more similar to each other than honest updates are — what FoolsGold looks for.
 */
import type { Vector } from '../core/vector.js';
import { checkContext } from './statistics.js';
import type { UpdateAttack } from './types.js';

export interface SybilOptions {
  /** The poisoned direction every identity shares. */
  readonly base: UpdateAttack;
  /** Per-coordinate noise std relative to ‖base‖/√d (so ‖noise‖ ≈ noise·‖base‖). */
  readonly noise: number;
}

export function sybil(options: SybilOptions): UpdateAttack {
  return {
    kind: 'update',
    name: `sybil(${options.base.name})`,
    craft(ctx): Vector[] {
      const dim = checkContext('sybil', ctx);
      // The base attack sees the real numMalicious (ALIE's z depends on it) and one shared own update.
      const { ownAll: _ownAll, ...rest } = ctx;
      const base = options.base.craft(rest)[0]!;
      let sq = 0;
      for (const v of base) sq += v * v;
      const sigma = (options.noise * Math.sqrt(sq)) / Math.sqrt(Math.max(1, dim));
      return Array.from({ length: ctx.numMalicious }, () => Float32Array.from(base, (v) => v + sigma * ctx.rng.normal()));
    },
  };
}
