/**
 * Label flipping (e.g. Tolpegin et al. 2020): the attacker trains on its own data with labels
 * remapped, y → C − 1 − y by default or through a configured mapping (classes not in the mapping
 * keep their label). `fraction` < 1 flips a random subset only.
 */
import { fail } from '../core/errors.js';
import type { SeededRng } from '../core/rng.js';
import type { Dataset } from '../data/dataset.js';
import type { DataAttack } from './types.js';

export interface LabelFlipOptions {
  /** from-class → to-class; absent: y → numClasses − 1 − y. */
  readonly mapping?: Readonly<Record<string, number>> | undefined;
  /** Fraction of examples flipped, in (0, 1]. */
  readonly fraction: number;
}

export function labelFlip(options: LabelFlipOptions): DataAttack {
  return {
    kind: 'data',
    name: 'label-flip',
    poison(data: Dataset, rng: SeededRng): Dataset {
      const C = data.numClasses;
      const table = Int32Array.from({ length: C }, (_, y) => (options.mapping ? y : C - 1 - y));
      for (const [from, to] of Object.entries(options.mapping ?? {})) {
        const f = Number(from);
        if (!Number.isInteger(f) || f < 0 || f >= C || !Number.isInteger(to) || to < 0 || to >= C) {
          fail('config', `label-flip mapping ${from} → ${to} is outside the dataset's classes 0..${C - 1}`);
        }
        table[f] = to;
      }
      const count = Math.round(options.fraction * data.size);
      const chosen = count >= data.size ? Array.from({ length: data.size }, (_, i) => i) : rng.sampleIndices(data.size, count);
      const y = data.y.slice();
      for (const i of chosen) y[i] = table[y[i]!]!;
      return { ...data, name: `${data.name}+label-flip`, y };
    },
  };
}
