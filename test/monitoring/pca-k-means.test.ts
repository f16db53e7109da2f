import { describe, expect, it } from 'vitest';
import { SeededRng } from '../../src/core/rng.js';
import { kMeans, silhouette } from '../../src/monitoring/k-means.js';
import { fitPca, projectPca } from '../../src/monitoring/pca.js';

/** n points in d dims: N(0, diag(sd²)) rotated so the axes are not the coordinate axes. */
function anisotropic(n: number, sd: readonly number[], seed: number): Float64Array {
  const d = sd.length;
  const rng = SeededRng.from(seed);
  const out = new Float64Array(n * d);
  const c = Math.SQRT1_2;
  for (let i = 0; i < n; i++) {
    const z = sd.map((s) => s * rng.normal());
    // rotate the first two axes by 45°
    out[i * d] = c * z[0]! - c * z[1]!;
    out[i * d + 1] = c * z[0]! + c * z[1]!;
    for (let j = 2; j < d; j++) out[i * d + j] = z[j]!;
  }
  return out;
}

describe('PCA by power iteration', () => {
  it('recovers the principal directions and variances of a rotated Gaussian', () => {
    const pts = anisotropic(4000, [3, 1, 0.5, 0.1], 1);
    const pca = fitPca(pts, 4000, 4, 3);
    const first = pca.components[0]!;
    expect(Math.abs(first[0]! - first[1]!) / Math.SQRT2).toBeLessThan(0.05); // direction (1,1)/√2 up to sign
    expect(Math.abs(Math.abs(first[0]!) - Math.SQRT1_2)).toBeLessThan(0.03);
    expect(pca.eigenvalues[0]).toBeCloseTo(9, 0);
    expect(pca.eigenvalues[1]).toBeCloseTo(1, 0);
    expect(pca.eigenvalues[2]).toBeCloseTo(0.25, 1);
    // components are orthonormal
    const dot = (a: Float64Array, b: Float64Array): number => a.reduce((s, v, i) => s + v * b[i]!, 0);
    expect(dot(first, first)).toBeCloseTo(1, 6);
    expect(Math.abs(dot(first, pca.components[1]!))).toBeLessThan(1e-3);
    // projections have the component variances
    const proj = projectPca(pca, pts, 4000, 4);
    let v0 = 0;
    for (let i = 0; i < 4000; i++) v0 += proj[i * 3]! ** 2 / 3999;
    expect(v0).toBeCloseTo(pca.eigenvalues[0]!, 3);
  });

  it('stops at the rank of the data and refuses bad input', () => {
    const line = Float64Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? i : 2 * (i - 1)));
    expect(fitPca(line, 10, 2, 5).components).toHaveLength(1);
    expect(() => fitPca(new Float64Array(3), 1, 3, 1)).toThrow(/at least 2 rows/);
    expect(() => fitPca(new Float64Array(5), 2, 3, 1)).toThrow(/expected 2×3/);
  });
});

describe('2-means and silhouette', () => {
  it('separates two blobs exactly and scores them high; one blob scores low', () => {
    const rng = SeededRng.from('blobs');
    const n = 200;
    const pts = new Float64Array(n * 2);
    for (let i = 0; i < n; i++) {
      const far = i < 40 ? 8 : 0;
      pts[i * 2] = far + rng.normal();
      pts[i * 2 + 1] = rng.normal();
    }
    const c = kMeans(pts, n, 2, 2, 1);
    expect([...c.sizes].sort((a, b) => a - b)).toEqual([40, 160]);
    for (let i = 1; i < 40; i++) expect(c.labels[i]).toBe(c.labels[0]);
    expect(silhouette(pts, n, 2, c.labels, 2)).toBeGreaterThan(0.6);

    const one = new Float64Array(n * 2).map(() => rng.normal());
    const c1 = kMeans(one, n, 2, 2, 1);
    expect(silhouette(one, n, 2, c1.labels, 2)).toBeLessThan(0.45);
  });

  it('is reproducible from its seed and refuses too few points', () => {
    const pts = Float64Array.from({ length: 60 }, (_, i) => Math.sin(i * 1.7) * (i % 3));
    expect(Array.from(kMeans(pts, 30, 2, 2, 's').labels)).toEqual(Array.from(kMeans(pts, 30, 2, 2, 's').labels));
    expect(() => kMeans(new Float64Array(2), 1, 2, 2)).toThrow(/at least 2 points/);
  });
});
