import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SeededRng } from '../../src/core/rng.js';
import { partition, partitionSchema } from '../../src/data/partition.js';

function balancedLabels(n: number, classes: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => i % classes);
}

/** Mean over participants of the largest class share: 1/classes for IID, → 1 for extreme skew. */
function meanDominantShare(labels: Int32Array, parts: number[][], classes: number): number {
  const shares = parts.map((p) => {
    const counts = new Array<number>(classes).fill(0);
    for (const i of p) counts[labels[i]!]!++;
    return Math.max(...counts) / p.length;
  });
  return shares.reduce((a, b) => a + b, 0) / shares.length;
}

describe('partitioners', () => {
  const specs = [partitionSchema.parse({ kind: 'iid' }), partitionSchema.parse({ kind: 'dirichlet', alpha: 0.5 }), partitionSchema.parse({ kind: 'shards' })];

  it('assign every example to exactly one participant (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 200, max: 1500 }), fc.integer({ min: 2, max: 12 }), fc.constantFrom(...specs), fc.integer(), (n, k, spec, seed) => {
        const labels = balancedLabels(n, 10);
        const parts = partition(labels, 10, k, spec, SeededRng.from(seed));
        expect(parts).toHaveLength(k);
        const all = parts.flat().sort((a, b) => a - b);
        expect(all).toEqual(Array.from({ length: n }, (_, i) => i));
      }),
      { numRuns: 40 },
    );
  });

  it('are deterministic given the seed', () => {
    const labels = balancedLabels(1000, 10);
    for (const spec of specs) {
      expect(partition(labels, 10, 7, spec, SeededRng.from(5))).toEqual(partition(labels, 10, 7, spec, SeededRng.from(5)));
      expect(partition(labels, 10, 7, spec, SeededRng.from(5))).not.toEqual(partition(labels, 10, 7, spec, SeededRng.from(6)));
    }
  });

  it('IID is balanced in size and labels; Dirichlet(0.1) and shards are label-skewed', () => {
    const labels = balancedLabels(5000, 10);
    const iid = partition(labels, 10, 10, specs[0]!, SeededRng.from(1));
    expect(Math.max(...iid.map((p) => p.length)) - Math.min(...iid.map((p) => p.length))).toBeLessThanOrEqual(1);
    expect(meanDominantShare(labels, iid, 10)).toBeLessThan(0.2);
    const skewed = partition(labels, 10, 10, { kind: 'dirichlet', alpha: 0.1, minSize: 10 }, SeededRng.from(1));
    expect(meanDominantShare(labels, skewed, 10)).toBeGreaterThan(0.5);
    const mild = partition(labels, 10, 10, { kind: 'dirichlet', alpha: 100, minSize: 10 }, SeededRng.from(1));
    expect(meanDominantShare(labels, mild, 10)).toBeLessThan(0.2);
    const sharded = partition(labels, 10, 10, { kind: 'shards', shardsPerParticipant: 2 }, SeededRng.from(1));
    for (const p of sharded) expect(new Set(p.map((i) => labels[i])).size).toBeLessThanOrEqual(4);
  });

  it('Dirichlet respects the minimum size, or says what to change', () => {
    const labels = balancedLabels(2000, 10);
    const parts = partition(labels, 10, 20, { kind: 'dirichlet', alpha: 0.5, minSize: 20 }, SeededRng.from(3));
    expect(Math.min(...parts.map((p) => p.length))).toBeGreaterThanOrEqual(20);
    expect(() => partition(labels, 10, 3000, specs[0]!, SeededRng.from(1))).toThrow(/fewer participants/);
  });
});
