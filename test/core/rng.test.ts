import { describe, expect, it } from 'vitest';
import { SeededRng } from '../../src/core/rng.js';

describe('SeededRng', () => {
  it('is reproducible per seed and label, and differs across them', () => {
    const a = Array.from({ length: 5 }, ((r) => () => r.nextUint32())(SeededRng.from(7, 'x')));
    const b = Array.from({ length: 5 }, ((r) => () => r.nextUint32())(SeededRng.from(7, 'x')));
    const c = Array.from({ length: 5 }, ((r) => () => r.nextUint32())(SeededRng.from(7, 'y')));
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  it('draws uniforms in [0,1) with the right mean and normals with unit variance', () => {
    const rng = SeededRng.from(1);
    const n = 50_000;
    let s = 0;
    let s2 = 0;
    let u = 0;
    for (let i = 0; i < n; i++) {
      const x = rng.normal();
      s += x;
      s2 += x * x;
      const v = rng.next();
      expect(v >= 0 && v < 1).toBe(true);
      u += v;
    }
    expect(Math.abs(s / n)).toBeLessThan(0.02);
    expect(Math.abs(s2 / n - 1)).toBeLessThan(0.03);
    expect(Math.abs(u / n - 0.5)).toBeLessThan(0.01);
  });

  it('samples Gamma with mean = shape, and Dirichlet vectors on the simplex', () => {
    const rng = SeededRng.from(2);
    for (const shape of [0.3, 1, 4]) {
      let s = 0;
      for (let i = 0; i < 20_000; i++) s += rng.gamma(shape);
      expect(s / 20_000).toBeCloseTo(shape, 1);
    }
    const p = rng.dirichlet(0.5, 10);
    expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(p.every((x) => x >= 0)).toBe(true);
  });

  it('shuffles into a permutation and samples distinct indices', () => {
    const rng = SeededRng.from(3);
    const perm = rng.shuffle(Array.from({ length: 100 }, (_, i) => i));
    expect([...perm].sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    const picked = rng.sampleIndices(50, 10);
    expect(new Set(picked).size).toBe(10);
  });
});
