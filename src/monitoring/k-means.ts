/**
 * k-means (Lloyd, k-means++ seeding, best of several restarts) and the silhouette score, on n
 * points of dimension d stored row-major in a Float64Array. Sized for activation clustering: k = 2,
 * n up to a few thousand, d ≈ 10.
 */
import { fail } from '../core/errors.js';
import { SeededRng } from '../core/rng.js';

export interface Clustering {
  /** Cluster index per point. */
  readonly labels: Int32Array;
  readonly sizes: readonly number[];
  /** Sum of squared distances to the assigned centroid. */
  readonly inertia: number;
}

function sqDist(points: Float64Array, i: number, centres: Float64Array, c: number, d: number): number {
  let s = 0;
  for (let j = 0; j < d; j++) {
    const diff = points[i * d + j]! - centres[c * d + j]!;
    s += diff * diff;
  }
  return s;
}

function lloyd(points: Float64Array, n: number, d: number, k: number, rng: SeededRng, maxIterations: number): Clustering {
  const centres = new Float64Array(k * d);
  // k-means++: each next centre drawn with probability ∝ squared distance to the nearest chosen one.
  const first = rng.int(n);
  centres.set(points.subarray(first * d, (first + 1) * d), 0);
  const nearest = new Float64Array(n).fill(Infinity);
  for (let c = 1; c < k; c++) {
    let total = 0;
    for (let i = 0; i < n; i++) {
      nearest[i] = Math.min(nearest[i]!, sqDist(points, i, centres, c - 1, d));
      total += nearest[i]!;
    }
    let pick = n - 1;
    if (total > 0) {
      let r = rng.next() * total;
      for (let i = 0; i < n; i++) {
        r -= nearest[i]!;
        if (r <= 0) {
          pick = i;
          break;
        }
      }
    } else pick = rng.int(n);
    centres.set(points.subarray(pick * d, (pick + 1) * d), c * d);
  }
  const labels = new Int32Array(n).fill(-1);
  let inertia = 0;
  for (let it = 0; it < maxIterations; it++) {
    let changed = false;
    inertia = 0;
    for (let i = 0; i < n; i++) {
      let best = 0;
      let bestD = Infinity;
      for (let c = 0; c < k; c++) {
        const dist = sqDist(points, i, centres, c, d);
        if (dist < bestD) {
          bestD = dist;
          best = c;
        }
      }
      inertia += bestD;
      if (labels[i] !== best) {
        labels[i] = best;
        changed = true;
      }
    }
    if (!changed) break;
    const counts = new Array<number>(k).fill(0);
    centres.fill(0);
    for (let i = 0; i < n; i++) {
      const c = labels[i]!;
      counts[c]!++;
      for (let j = 0; j < d; j++) centres[c * d + j] = centres[c * d + j]! + points[i * d + j]!;
    }
    for (let c = 0; c < k; c++) if (counts[c]! > 0) for (let j = 0; j < d; j++) centres[c * d + j] = centres[c * d + j]! / counts[c]!;
    for (let c = 0; c < k; c++) {
      if (counts[c]! > 0) continue;
      // An empty cluster restarts at the point farthest from its centre, so k clusters survive.
      let far = 0;
      let farD = -1;
      for (let i = 0; i < n; i++) {
        const dist = sqDist(points, i, centres, labels[i]!, d);
        if (dist > farD) {
          farD = dist;
          far = i;
        }
      }
      centres.set(points.subarray(far * d, (far + 1) * d), c * d);
    }
  }
  const sizes = new Array<number>(k).fill(0);
  for (const c of labels) sizes[c]!++;
  return { labels, sizes, inertia };
}

export function kMeans(points: Float64Array, n: number, d: number, k: number, seed: number | string = 'k-means', restarts = 5, maxIterations = 100): Clustering {
  if (k < 1 || !Number.isInteger(k)) fail('config', `k-means needs a positive integer k, got ${k}`);
  if (n < k) fail('precondition', `k-means with k = ${k} needs at least ${k} points, got ${n}`);
  if (points.length !== n * d) fail('shape', `k-means input has ${points.length} values, expected ${n}×${d}`);
  const rng = SeededRng.from(seed, 'k-means');
  let best: Clustering | undefined;
  for (let r = 0; r < restarts; r++) {
    const run = lloyd(points, n, d, k, rng.fork('restart', r), maxIterations);
    if (!best || run.inertia < best.inertia) best = run;
  }
  return best!;
}

/**
 * Mean silhouette (Rousseeuw 1987): per point s = (b − a) / max(a, b) with a the mean distance to
 * its own cluster and b to the nearest other; points alone in their cluster score 0. O(n²·d).
 */
export function silhouette(points: Float64Array, n: number, d: number, labels: Int32Array, k: number): number {
  if (n < 2) return 0;
  const sizes = new Array<number>(k).fill(0);
  for (const c of labels) sizes[c]!++;
  if (sizes.filter((s) => s > 0).length < 2) return 0;
  const sums = new Float64Array(k);
  let total = 0;
  for (let i = 0; i < n; i++) {
    sums.fill(0);
    for (let m = 0; m < n; m++) {
      if (m === i) continue;
      let s = 0;
      for (let j = 0; j < d; j++) {
        const diff = points[i * d + j]! - points[m * d + j]!;
        s += diff * diff;
      }
      sums[labels[m]!] = sums[labels[m]!]! + Math.sqrt(s);
    }
    const own = labels[i]!;
    if (sizes[own]! <= 1) continue;
    const a = sums[own]! / (sizes[own]! - 1);
    let b = Infinity;
    for (let c = 0; c < k; c++) if (c !== own && sizes[c]! > 0) b = Math.min(b, sums[c]! / sizes[c]!);
    const denom = Math.max(a, b);
    total += denom > 0 ? (b - a) / denom : 0;
  }
  return total / n;
}
