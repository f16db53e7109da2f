/**
 * All pairwise squared L2 distances between n update vectors, via the Gram matrix:
 * ‖a − b‖² = ‖a‖² + ‖b‖² − 2a·b, so the O(n²d) work is one symmetric matrix product.
 *
 * The product is blocked over the coordinate axis: a block of every vector is widened once into a
 * float64 scratch (rows padded with zeros to a multiple of 4), and all pairs use it from cache,
 * tiled 4×2 (eight dot products share six loads per step). Products of two float32 values are exact
 * in float64 and the sums accumulate in float64; the tiny negative values that cancellation can
 * produce for near-identical vectors are clamped to 0. Scalar JS: ~2 GFMA/s on one core.
 */
import { fail } from '../core/errors.js';
import type { Vector } from '../core/vector.js';

/** Coordinates per block: 512 doubles = 4 KiB per vector, so n = 100 vectors use 400 KiB of cache. */
const BLOCK = 512;

function checkSameLength(vectors: readonly Vector[]): number {
  const dim = vectors[0]?.length ?? 0;
  vectors.forEach((v, i) => {
    if (v.length !== dim) fail('shape', `vector ${i} has length ${v.length}, expected ${dim}`);
  });
  return dim;
}

/** G[i·n + j] = vectors[i] · vectors[j] (row-major n×n, symmetric). */
export function gramMatrix(vectors: readonly Vector[]): Float64Array {
  const n = vectors.length;
  const dim = checkSameLength(vectors);
  const rows = Math.ceil(n / 4) * 4;
  const acc = new Float64Array(rows * rows);
  const sc = new Float64Array(rows * BLOCK);
  for (let start = 0; start < dim; start += BLOCK) {
    const width = Math.min(BLOCK, dim - start);
    for (let i = 0; i < n; i++) {
      const v = vectors[i]!;
      const o = i * BLOCK;
      for (let k = 0; k < width; k++) sc[o + k] = v[start + k]!;
    }
    for (let i = 0; i < rows; i += 4) {
      const o0 = i * BLOCK;
      const o1 = o0 + BLOCK;
      const o2 = o1 + BLOCK;
      const o3 = o2 + BLOCK;
      for (let j = i; j < rows; j += 2) {
        const p0 = j * BLOCK;
        const p1 = p0 + BLOCK;
        let s00 = 0;
        let s01 = 0;
        let s10 = 0;
        let s11 = 0;
        let s20 = 0;
        let s21 = 0;
        let s30 = 0;
        let s31 = 0;
        for (let k = 0; k < width; k++) {
          const y0 = sc[p0 + k]!;
          const y1 = sc[p1 + k]!;
          let x = sc[o0 + k]!;
          s00 += x * y0;
          s01 += x * y1;
          x = sc[o1 + k]!;
          s10 += x * y0;
          s11 += x * y1;
          x = sc[o2 + k]!;
          s20 += x * y0;
          s21 += x * y1;
          x = sc[o3 + k]!;
          s30 += x * y0;
          s31 += x * y1;
        }
        const r0 = i * rows + j;
        acc[r0] = acc[r0]! + s00;
        acc[r0 + 1] = acc[r0 + 1]! + s01;
        acc[r0 + rows] = acc[r0 + rows]! + s10;
        acc[r0 + rows + 1] = acc[r0 + rows + 1]! + s11;
        acc[r0 + 2 * rows] = acc[r0 + 2 * rows]! + s20;
        acc[r0 + 2 * rows + 1] = acc[r0 + 2 * rows + 1]! + s21;
        acc[r0 + 3 * rows] = acc[r0 + 3 * rows]! + s30;
        acc[r0 + 3 * rows + 1] = acc[r0 + 3 * rows + 1]! + s31;
      }
    }
  }
  // Tiles cover every (r, c) with c at or after r's row tile, so (min, max) is always computed.
  const g = new Float64Array(n * n);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) g[r * n + c] = r <= c ? acc[r * rows + c]! : acc[c * rows + r]!;
  }
  return g;
}

/** D[i·n + j] = ‖vectors[i] − vectors[j]‖² (row-major n×n, symmetric, zero diagonal). */
export function pairwiseSquaredDistances(vectors: readonly Vector[]): Float64Array {
  const n = vectors.length;
  const g = gramMatrix(vectors);
  const d = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const v = g[i * n + i]! + g[j * n + j]! - 2 * g[i * n + j]!;
      const c = v > 0 ? v : 0;
      d[i * n + j] = c;
      d[j * n + i] = c;
    }
  }
  return d;
}
