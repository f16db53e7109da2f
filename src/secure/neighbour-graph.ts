/**
 * The SecAgg+ communication graph (Bell et al., CCS 2020): each participant only exchanges keys,
 * shares and pairwise masks with its k neighbours in a random k-regular graph, instead of with all
 * n − 1 others (k = n − 1 is classic SecAgg, Bonawitz et al., CCS 2017).
 *
 * The graph is drawn from a PublicCoin, so every party computes the same one. Sampling follows the
 * Steger–Wormald procedure (pair uniformly random free "points" that form a new simple edge, restart
 * if stuck), which is asymptotically uniform over k-regular graphs for small k; for k > (n − 1)/2
 * we draw the complement, a (n − 1 − k)-regular graph, which keeps the procedure in its good regime.
 */
import { fail } from '../core/errors.js';
import type { PublicCoin } from './public-coin.js';

/** Sorted neighbour lists; the relation is symmetric and irreflexive and every list has length k. */
export type NeighbourGraph = readonly (readonly number[])[];

export function randomRegularGraph(n: number, k: number, coin: PublicCoin): NeighbourGraph {
  if (!Number.isInteger(n) || !Number.isInteger(k) || n < 2 || k < 1 || k > n - 1) {
    fail('config', `a k-regular graph on n vertices needs 1 ≤ k ≤ n − 1, got n=${n}, k=${k}`);
  }
  if ((n * k) % 2 !== 0) {
    fail('config', `no ${k}-regular graph exists on ${n} participants (n·k must be even)`, `use degree ${k - 1} or ${k + 1}`);
  }
  if (k === n - 1) return Array.from({ length: n }, (_, u) => Array.from({ length: n - 1 }, (_, i) => (i < u ? i : i + 1)));
  if (k > (n - 1) / 2) {
    const complement = sampleSparse(n, n - 1 - k, coin);
    return complement.map((nbrs, u) => {
      const out: number[] = [];
      for (let v = 0; v < n; v++) if (v !== u && !nbrs.has(v)) out.push(v);
      return out;
    });
  }
  return sampleSparse(n, k, coin).map((s) => [...s].sort((a, b) => a - b));
}

function sampleSparse(n: number, k: number, coin: PublicCoin): Set<number>[] {
  if (k === 0) return Array.from({ length: n }, () => new Set<number>());
  for (let attempt = 0; attempt < 1000; attempt++) {
    const adj = Array.from({ length: n }, () => new Set<number>());
    const points: number[] = [];
    for (let v = 0; v < n; v++) for (let j = 0; j < k; j++) points.push(v);
    let misses = 0;
    let stuck = false;
    while (points.length > 0) {
      const i = coin.int(points.length);
      const j = coin.int(points.length);
      const a = points[i]!;
      const b = points[j]!;
      if (a !== b && !adj[a]!.has(b)) {
        adj[a]!.add(b);
        adj[b]!.add(a);
        // Remove the two points (higher index first so the lower one stays valid).
        for (const idx of i > j ? [i, j] : [j, i]) {
          points[idx] = points[points.length - 1]!;
          points.pop();
        }
        misses = 0;
        continue;
      }
      if (++misses > 64) {
        if (!hasSuitablePair(points, adj)) {
          stuck = true;
          break;
        }
        misses = 0;
      }
    }
    if (!stuck) return adj;
  }
  return fail('internal', `could not draw a random ${k}-regular graph on ${n} vertices after 1000 restarts`);
}

function hasSuitablePair(points: readonly number[], adj: readonly Set<number>[]): boolean {
  const vertices = [...new Set(points)];
  for (let i = 0; i < vertices.length; i++) {
    for (let j = i + 1; j < vertices.length; j++) {
      if (!adj[vertices[i]!]!.has(vertices[j]!)) return true;
    }
  }
  return false;
}

/**
 * A degree for n participants when nothing else is known: 2⌈log₂ n⌉ (the O(log n) of Bell et al.,
 * with a constant that keeps small rounds workable), capped at n − 1 and at the Shamir limit of 255.
 */
export function defaultDegree(n: number): number {
  const k = 2 * Math.ceil(Math.log2(Math.max(2, n)));
  if (k >= n - 1) return n - 1 <= 255 ? n - 1 : 254;
  return Math.min(k, 254);
}

/** The smallest threshold that is secure against a malicious coordinator: a strict majority of k. */
export function defaultThreshold(k: number): number {
  return Math.floor(k / 2) + 1;
}

/**
 * The smallest degree k ≥ defaultDegree(n) (with t = ⌊k/2⌋ + 1) for which a round with independent dropouts at rate
 * `dropoutRate` aborts for lack of live neighbours with probability ≲ `failureProbability`:
 * union bound over n participants of P[Binomial(k, 1 − dropoutRate) < t]. Falls back to the
 * largest allowed degree when no smaller one meets the target.
 */
export function suggestDegree(n: number, dropoutRate: number, failureProbability = 1e-3): number {
  if (!(dropoutRate >= 0 && dropoutRate < 1)) fail('config', `dropoutRate must be in [0, 1), got ${dropoutRate}`);
  const maxK = Math.min(n - 1, 255);
  let best = maxK;
  for (let k = defaultDegree(n); k <= maxK; k++) {
    if ((n * k) % 2 !== 0) continue;
    const t = defaultThreshold(k);
    if (t > k) continue;
    if (n * binomialCdfBelow(k, 1 - dropoutRate, t) <= failureProbability) {
      best = k;
      break;
    }
  }
  if ((n * best) % 2 !== 0) best -= 1;
  return best;
}

/** P[Binomial(k, p) < t], summed in log space. */
function binomialCdfBelow(k: number, p: number, t: number): number {
  if (p >= 1) return 0;
  let total = 0;
  let logC = 0; // log C(k, 0)
  for (let i = 0; i < t; i++) {
    if (i > 0) logC += Math.log((k - i + 1) / i);
    total += Math.exp(logC + i * Math.log(p) + (k - i) * Math.log1p(-p));
  }
  return total;
}
