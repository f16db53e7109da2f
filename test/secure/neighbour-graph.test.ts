import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defaultDegree, randomRegularGraph, suggestDegree, type NeighbourGraph } from '../../src/secure/neighbour-graph.js';
import { PublicCoin } from '../../src/secure/public-coin.js';

const roster = (n: number) => Array.from({ length: n }, (_, i) => ({ id: `p${i}`, identityPublicKey: new Uint8Array(32).fill(i) }));
const coinFor = (sessionId: Uint8Array, n: number) => PublicCoin.forSession(sessionId, 1, roster(n), 'neighbour-graph');

function checkRegular(g: NeighbourGraph, n: number, k: number): void {
  expect(g.length).toBe(n);
  g.forEach((nbrs, u) => {
    expect(nbrs.length).toBe(k);
    expect(new Set(nbrs).size).toBe(k);
    for (const v of nbrs) {
      expect(v).not.toBe(u);
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThan(n);
      expect(g[v]).toContain(u); // symmetric
    }
  });
}

describe('SecAgg+ neighbour graph', () => {
  it('is a simple, symmetric k-regular graph for any valid (n, k)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 3, max: 40 }).chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 1, max: n - 1 }))),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        ([n, k0], sid) => {
          const k = (n * k0) % 2 === 0 ? k0 : k0 - 1;
          if (k < 1) return;
          checkRegular(randomRegularGraph(n, k, coinFor(sid, n)), n, k);
        },
      ),
      { numRuns: 50 },
    );
  });

  it('is a deterministic function of the public randomness, and changes with the session', () => {
    const sid = new Uint8Array(randomBytes(32));
    const a = randomRegularGraph(200, 16, coinFor(sid, 200));
    const b = randomRegularGraph(200, 16, coinFor(sid, 200));
    expect(b).toEqual(a);
    const c = randomRegularGraph(200, 16, coinFor(new Uint8Array(randomBytes(32)), 200));
    expect(c).not.toEqual(a);
    checkRegular(a, 200, 16);
  });

  it('spreads neighbours over the whole roster (not a fixed ring)', () => {
    // Over 40 sessions, participant 0 should meet most of the 99 others at least once.
    const met = new Set<number>();
    for (let s = 0; s < 40; s++) for (const v of randomRegularGraph(100, 8, coinFor(new Uint8Array(randomBytes(32)), 100))[0]!) met.add(v);
    expect(met.size).toBeGreaterThan(90);
  });

  it('gives the complete graph for k = n − 1 (classic SecAgg)', () => {
    const g = randomRegularGraph(6, 5, coinFor(new Uint8Array(32), 6));
    checkRegular(g, 6, 5);
  });

  it('refuses impossible degrees with a hint', () => {
    expect(() => randomRegularGraph(5, 3, coinFor(new Uint8Array(32), 5))).toThrow(/n·k must be even.*use degree 2 or 4/);
    expect(() => randomRegularGraph(5, 5, coinFor(new Uint8Array(32), 5))).toThrow(/1 ≤ k ≤ n − 1/);
  });

  it('defaults to O(log n) neighbours, valid for every n', () => {
    expect(defaultDegree(10)).toBe(8);
    expect(defaultDegree(100)).toBe(14);
    expect(defaultDegree(500)).toBe(18);
    expect(defaultDegree(4)).toBe(3);
    for (let n = 3; n < 300; n++) {
      const k = defaultDegree(n);
      expect(k).toBeLessThanOrEqual(Math.min(n - 1, 255));
      expect((n * k) % 2).toBe(0);
    }
  });

  it('suggests more neighbours for higher dropout rates', () => {
    const k0 = suggestDegree(500, 0.05);
    const k1 = suggestDegree(500, 0.1);
    const k3 = suggestDegree(500, 0.3);
    expect(k0).toBeLessThanOrEqual(k1);
    expect(k1).toBeLessThan(k3);
    expect(k3).toBeLessThanOrEqual(255);
    expect(suggestDegree(10, 0.3)).toBe(9);
  });
});
