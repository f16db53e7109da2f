/**
 * How close a reconstruction is to the original, for images with pixel values in [0, 1]:
 *  - PSNR = 10·log10(1 / MSE) dB (peak value 1; +∞ for an exact copy), as DLG/iDLG report it;
 *  - SSIM (Wang, Bovik, Sheikh & Simoncelli 2004) with a 7×7 uniform window, K1 = 0.01,
 *    K2 = 0.03, dynamic range 1, averaged over all valid window positions (per channel);
 *  - cosine similarity of the pixel vectors.
 * Reconstructions are clipped to [0, 1] before scoring (clipToUnit). Batches are scored after an
 * optimal one-to-one assignment of reconstructions to originals (the order of a batch is not
 * recoverable from its gradient).
 */
import { fail } from '../../core/errors.js';

function checkPair(a: ArrayLike<number>, b: ArrayLike<number>): void {
  if (a.length !== b.length) fail('shape', `images have ${a.length} and ${b.length} pixels`);
  if (a.length === 0) fail('shape', 'images are empty');
}

export function mse(a: ArrayLike<number>, b: ArrayLike<number>): number {
  checkPair(a, b);
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    s += d * d;
  }
  return s / a.length;
}

/** PSNR in dB for signals with peak 1: 10·log10(1/MSE); +Infinity when identical. */
export function psnr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const m = mse(a, b);
  if (Number.isNaN(m)) return NaN;
  return m === 0 ? Infinity : 10 * Math.log10(1 / m);
}

export function cosineSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  checkPair(a, b);
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return aa === 0 || bb === 0 ? 0 : ab / Math.sqrt(aa * bb);
}

export function clipToUnit(v: ArrayLike<number>): Float32Array {
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!;
    out[i] = Number.isNaN(x) ? 0 : Math.min(1, Math.max(0, x));
  }
  return out;
}

const K1 = 0.01;
const K2 = 0.03;

/** Mean SSIM of two [height, width, channels] images (row-major, channels last), window `win`. */
export function ssim(a: ArrayLike<number>, b: ArrayLike<number>, shape: readonly [number, number, number], win = 7): number {
  checkPair(a, b);
  const [h, w, c] = shape;
  if (h * w * c !== a.length) fail('shape', `SSIM shape [${shape.join(', ')}] does not match ${a.length} pixels`);
  if (!Number.isInteger(win) || win < 2 || win > h || win > w) fail('precondition', `SSIM window ${win} does not fit a ${h}×${w} image`);
  const c1 = K1 * K1;
  const c2 = K2 * K2;
  const n = win * win;
  // Unbiased (n − 1) covariance estimates, as in the reference implementation's default.
  const cov = n / (n - 1);
  let total = 0;
  let count = 0;
  for (let ch = 0; ch < c; ch++) {
    for (let y0 = 0; y0 + win <= h; y0++) {
      for (let x0 = 0; x0 + win <= w; x0++) {
        let sa = 0, sb = 0, saa = 0, sbb = 0, sab = 0;
        for (let y = y0; y < y0 + win; y++) {
          for (let x = x0; x < x0 + win; x++) {
            const i = (y * w + x) * c + ch;
            const va = a[i]!;
            const vb = b[i]!;
            sa += va;
            sb += vb;
            saa += va * va;
            sbb += vb * vb;
            sab += va * vb;
          }
        }
        const ma = sa / n;
        const mb = sb / n;
        const va = cov * (saa / n - ma * ma);
        const vb = cov * (sbb / n - mb * mb);
        const vab = cov * (sab / n - ma * mb);
        total += ((2 * ma * mb + c1) * (2 * vab + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
        count++;
      }
    }
  }
  return total / count;
}

/**
 * The one-to-one assignment of rows to columns maximising the total score (exact, dynamic
 * programming over subsets of columns: O(2^m·n·m), fine for batches of ≤ 12). Requires
 * rows ≤ columns; returns the column of each row.
 */
export function bestAssignment(score: readonly (readonly number[])[]): number[] {
  const n = score.length;
  const m = score[0]?.length ?? 0;
  if (n === 0) return [];
  if (m < n) fail('precondition', `cannot assign ${n} originals to ${m} reconstructions`);
  if (m > 16) fail('precondition', `exact assignment supports at most 16 candidates, got ${m}`);
  const size = 1 << m;
  // best[mask] = best total for the first popcount(mask) rows using exactly the columns in mask.
  const best = new Float64Array(size).fill(-Infinity);
  const choice = new Int8Array(size).fill(-1);
  best[0] = 0;
  for (let mask = 0; mask < size; mask++) {
    const cur = best[mask]!;
    if (cur === -Infinity) continue;
    let row = 0;
    for (let t = mask; t; t &= t - 1) row++;
    if (row >= n) continue;
    for (let col = 0; col < m; col++) {
      if (mask & (1 << col)) continue;
      const next = mask | (1 << col);
      const s = cur + score[row]![col]!;
      if (s > best[next]!) {
        best[next] = s;
        choice[next] = col;
      }
    }
  }
  let bestMask = -1;
  for (let mask = 0; mask < size; mask++) {
    let bits = 0;
    for (let t = mask; t; t &= t - 1) bits++;
    if (bits === n && (bestMask < 0 || best[mask]! > best[bestMask]!)) bestMask = mask;
  }
  const out = new Array<number>(n).fill(-1);
  let mask = bestMask;
  for (let row = n - 1; row >= 0; row--) {
    const col = choice[mask]!;
    out[row] = col;
    mask &= ~(1 << col);
  }
  return out;
}
