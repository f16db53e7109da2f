/** Gaussian noise: each attacker sends an independent N(0, σ²) vector instead of an update. */
import type { Vector } from '../core/vector.js';
import { checkContext } from './statistics.js';
import type { UpdateAttack } from './types.js';

export function gaussianNoise(options: { readonly sigma: number }): UpdateAttack {
  return {
    kind: 'update',
    name: 'gaussian-noise',
    independent: true,
    craft(ctx): Vector[] {
      const dim = checkContext('gaussian-noise', ctx);
      return Array.from({ length: ctx.numMalicious }, () => Float32Array.from({ length: dim }, () => ctx.rng.normal() * options.sigma));
    },
  };
}
