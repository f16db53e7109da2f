/** Sign flipping: each attacker sends −s × its honest update (pushes the model uphill). */
import { scale, type Vector } from '../core/vector.js';
import { checkContext, ownOf } from './statistics.js';
import type { UpdateAttack } from './types.js';

export function signFlip(options: { readonly scale: number }): UpdateAttack {
  return {
    kind: 'update',
    name: 'sign-flip',
    independent: true,
    craft(ctx): Vector[] {
      checkContext('sign-flip', ctx);
      return Array.from({ length: ctx.numMalicious }, (_, k) => scale(ownOf(ctx, k), -options.scale));
    },
  };
}
