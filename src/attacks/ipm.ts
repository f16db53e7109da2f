/**
 * Inner-product manipulation (Xie, Koyejo & Gupta 2020): all attackers send −ε × the mean of the
 * reference updates, so the aggregate's inner product with the true gradient turns negative once
 * enough of it gets through. Small ε slips past distance-based rules; large ε overwhelms means.
 */
import { checkContext, copies, meanAndStd } from './statistics.js';
import type { UpdateAttack } from './types.js';

export function ipm(options: { readonly epsilon: number }): UpdateAttack {
  return {
    kind: 'update',
    name: 'ipm',
    craft(ctx) {
      const dim = checkContext('IPM', ctx, 1);
      const { mean } = meanAndStd(ctx.benign, 0);
      const out = new Float32Array(dim);
      for (let k = 0; k < dim; k++) out[k] = -options.epsilon * mean[k]!;
      return copies(out, ctx.numMalicious);
    },
  };
}
