/**
 * Coordinate-wise trimmed mean (Yin et al. 2018): per coordinate, drop the k smallest and k largest
 * values and average the rest. k is given directly (`trim`), as a fraction β of n (k = ⌊βn⌋), or
 * defaults to f. Unweighted, like the median, because weights are self-reported.
 */
import { fail } from '../core/errors.js';
import type { Aggregator } from './types.js';
import { idRanks, reduceColumns, shareWeights, trimmedMeanRule } from './coordinate-wise.js';
import { aggregateValidated, atLeast } from './validate.js';

export interface TrimmedMeanOptions {
  /** Fraction trimmed from each side, 0 ≤ β < 0.5. */
  readonly beta?: number | undefined;
  /** Number trimmed from each side. */
  readonly trim?: number | undefined;
}

export function trimmedMean(options: TrimmedMeanOptions = {}): Aggregator {
  if (options.beta !== undefined && options.trim !== undefined) {
    fail('config', 'trimmed-mean takes either beta or trim, not both', 'remove one of them');
  }
  const trimFor = (n: number, f: number): number =>
    options.trim ?? (options.beta !== undefined ? Math.floor(options.beta * n + 1e-9) : f);
  const requirement = (f: number) => {
    if (options.beta !== undefined) return atLeast(1, `at least one contribution`);
    const k = options.trim ?? f;
    return atLeast(2 * k + 1, `n > 2·trim = ${2 * k} (trim = ${k} per side)`);
  };
  return {
    name: 'trimmed-mean',
    requirement,
    aggregate(contributions, ctx) {
      return aggregateValidated('Trimmed mean', contributions, ctx, requirement, (valid, ctx, dim) => {
        const n = valid.length;
        const k = trimFor(n, ctx.byzantine);
        if (2 * k >= n) fail('precondition', `Trimmed mean trims ${k} per side, which needs n > ${2 * k} (n = ${n})`, 'lower beta/trim or add participants');
        // Trimming fewer than f per side lets a Byzantine value through on some coordinate: fail closed.
        if (k < ctx.byzantine) {
          fail('precondition', `Trimmed mean trims ${k} per side but must tolerate f = ${ctx.byzantine} (n = ${n})`, 'raise beta to at least f/n or trim to at least f');
        }
        const { aggregate, shares, hits } = reduceColumns(
          valid.map((c) => c.update),
          dim,
          trimmedMeanRule(k),
          idRanks(valid.map((c) => c.id)),
        );
        const weights = shareWeights(shares, dim);
        return {
          aggregate,
          diagnostics: valid.map((c, i) => ({
            id: c.id,
            accepted: weights[i]! > 0,
            weight: weights[i]!,
            score: hits[i]! / dim,
            ...(weights[i]! > 0 ? {} : { reason: `trimmed (among the ${k} smallest or largest) on every coordinate` }),
          })),
        };
      });
    },
  };
}
