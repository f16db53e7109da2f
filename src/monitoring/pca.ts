/**
 * Principal component analysis by power iteration with deflation on the d×d covariance matrix:
 * enough for reducing a layer's activations (d in the hundreds) to ~10 dimensions, no SVD library.
 */
import { fail } from '../core/errors.js';
import { SeededRng } from '../core/rng.js';

export interface Pca {
  /** components[k] is the k-th unit eigenvector (length d), by decreasing eigenvalue. */
  readonly components: readonly Float64Array[];
  readonly eigenvalues: readonly number[];
  readonly mean: Float64Array;
}

/**
 * Top-k principal components of n rows of dimension d (row-major `rows`, n·d values).
 * Power iteration converges at rate λ₂/λ₁; `iterations` caps it, `tolerance` stops it early.
 */
export function fitPca(rows: Float32Array | Float64Array, n: number, d: number, k: number, seed: number | string = 'pca', iterations = 200, tolerance = 1e-9): Pca {
  if (n < 2) fail('precondition', `PCA needs at least 2 rows, got ${n}`);
  if (rows.length !== n * d) fail('shape', `PCA input has ${rows.length} values, expected ${n}×${d}`);
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] = mean[j]! + rows[i * d + j]! / n;
  // Covariance, upper triangle mirrored.
  const cov = new Float64Array(d * d);
  const centred = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) centred[j] = rows[i * d + j]! - mean[j]!;
    for (let a = 0; a < d; a++) {
      const ca = centred[a]!;
      if (ca === 0) continue;
      for (let b = a; b < d; b++) cov[a * d + b] = cov[a * d + b]! + ca * centred[b]!;
    }
  }
  for (let a = 0; a < d; a++) {
    for (let b = a; b < d; b++) {
      const v = cov[a * d + b]! / (n - 1);
      cov[a * d + b] = v;
      cov[b * d + a] = v;
    }
  }
  const rng = SeededRng.from(seed, 'pca-start');
  const components: Float64Array[] = [];
  const eigenvalues: number[] = [];
  const next = new Float64Array(d);
  for (let c = 0; c < Math.min(k, d); c++) {
    let v = Float64Array.from({ length: d }, () => rng.normal());
    normalise(v);
    let lambda = 0;
    for (let it = 0; it < iterations; it++) {
      for (let a = 0; a < d; a++) {
        let s = 0;
        for (let b = 0; b < d; b++) s += cov[a * d + b]! * v[b]!;
        next[a] = s;
      }
      const norm = normalise(next);
      const change = Math.abs(norm - lambda);
      lambda = norm;
      v = Float64Array.from(next);
      if (norm === 0 || change <= tolerance * Math.max(1, norm)) break;
    }
    if (!(lambda > 1e-12)) break; // the remaining variance is zero: no more components
    components.push(v);
    eigenvalues.push(lambda);
    // Deflate: cov ← cov − λ v vᵀ, so the next iteration finds the next component.
    for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) cov[a * d + b] = cov[a * d + b]! - lambda * v[a]! * v[b]!;
  }
  return { components, eigenvalues, mean };
}

/** Rows projected on the components: n rows of `components.length` values. */
export function projectPca(pca: Pca, rows: Float32Array | Float64Array, n: number, d: number): Float64Array {
  const k = pca.components.length;
  const out = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < k; c++) {
      const comp = pca.components[c]!;
      let s = 0;
      for (let j = 0; j < d; j++) s += (rows[i * d + j]! - pca.mean[j]!) * comp[j]!;
      out[i * k + c] = s;
    }
  }
  return out;
}

function normalise(v: Float64Array): number {
  let s = 0;
  for (const x of v) s += x * x;
  const norm = Math.sqrt(s);
  if (norm > 0) for (let i = 0; i < v.length; i++) v[i] = v[i]! / norm;
  return norm;
}
