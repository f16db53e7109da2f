/**
 * Scaling ("boosting"): each attacker sends λ × its honest update. With λ = n / k (the default,
 * k = number of attackers) the attackers' share of a plain mean equals the whole honest mean's.
 */
import { scale, type Vector } from '../core/vector.js';
import { checkContext, ownOf } from './statistics.js';
import type { UpdateAttack } from './types.js';

export function scaling(options: { readonly factor?: number | undefined }): UpdateAttack {
  return {
    kind: 'update',
    name: 'scaling',
    independent: true,
    craft(ctx): Vector[] {
      checkContext('scaling', ctx);
      const factor = options.factor ?? ctx.numTotal / ctx.numMalicious;
      return Array.from({ length: ctx.numMalicious }, (_, k) => scale(ownOf(ctx, k), factor));
    },
  };
}
