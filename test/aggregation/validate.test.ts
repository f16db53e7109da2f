import { describe, expect, it } from 'vitest';
import { validateContributions } from '../../src/aggregation/validate.js';
import type { Contribution } from '../../src/aggregation/types.js';
import { FedsecError } from '../../src/core/errors.js';

const ok = (id: string, values: number[], weight = 1): Contribution => ({ id, update: Float32Array.from(values), weight });

describe('validateContributions', () => {
  it('keeps valid contributions in order and reports each rejection with its position and reason', () => {
    const input: Contribution[] = [
      ok('a', [1, 2]),
      ok('b', [NaN, 2]),
      ok('c', [1, 2, 3]),
      ok('a', [5, 5]),
      ok('d', [1, 2], 0),
      ok('e', [1, 2], Infinity),
      { id: 'f', update: [1, 2] as unknown as Float32Array, weight: 1 },
      ok('', [1, 2]),
      ok('g', [3, 4]),
    ];
    const r = validateContributions(input);
    expect(r.dim).toBe(2);
    expect(r.accepted.map((c) => c.id)).toEqual(['a', 'g']);
    expect(r.acceptedIndices).toEqual([0, 8]);
    expect(r.rejected.map((x) => [x.index, x.code, x.reason])).toEqual([
      [1, 'non-finite', 'update has NaN at index 0'],
      [2, 'shape', 'update has length 3, expected 2'],
      [3, 'protocol', 'duplicate id: each participant contributes once per round, later copy dropped'],
      [4, 'config', 'weight must be a finite number > 0, got 0'],
      [5, 'config', 'weight must be a finite number > 0, got Infinity'],
      [6, 'shape', 'update must be a Float32Array'],
      [7, 'protocol', 'id must be a non-empty string'],
    ]);
  });

  it('uses expectedDim when given, even against the majority', () => {
    const r = validateContributions([ok('a', [1, 2]), ok('b', [1, 2]), ok('c', [1, 2, 3])], { expectedDim: 3 });
    expect(r.accepted.map((c) => c.id)).toEqual(['c']);
  });

  it('refuses to guess the length when no length is in the majority', () => {
    expect(() => validateContributions([ok('a', [1, 2]), ok('b', [1, 2, 3])])).toThrowError(/no length is in the majority — pass expectedDim/);
  });

  it('strict mode throws a FedsecError with the matching code on the first problem', () => {
    try {
      validateContributions([ok('a', [1, 2]), ok('b', [1, Infinity])], { strict: true });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(FedsecError);
      expect((e as FedsecError).code).toBe('non-finite');
      expect((e as FedsecError).message).toBe('contribution 1 ("b") rejected: update has Infinity at index 1');
    }
  });

  it('finds a single non-finite value anywhere in a long update', () => {
    for (const at of [0, 4095, 99_999]) {
      const u = new Float32Array(100_000).fill(0.5);
      u[at] = -Infinity;
      const r = validateContributions([{ id: 'x', update: u, weight: 1 }]);
      expect(r.rejected[0]?.reason).toBe(`update has -Infinity at index ${at}`);
    }
  });
});
