/**
 * How close a reconstruction is to the original, for images with pixel values in [0, 1]:
 *  - PSNR = 10·log10(1 / MSE) dB (peak value 1; +∞ for an exact copy), as DLG/iDLG report it;
 *  - SSIM (Wang, Bovik, Sheikh & Simoncelli 2004) with a 7×7 uniform window, K1 = 0.01,
 *    K2 = 0.03, dynamic range 1, averaged over all valid window positions (per channel);
 *  - cosine similarity of the pixel vectors.
 * Reconstructions are clipped to [0, 1] before scoring (clipToUnit). Batches are scored after an
 * optimal one-to-one assignment of reconstructions to originals by MSE (the order of a batch is
 * not recoverable from its gradient).
 */
import { fail } from '../../core/errors.js';
import { cosineSimilarity as cosine } from '../../core/vector.js';

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
  return cosine(a, b);
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
 * The one-to-one assignment of rows to columns maximising the total score (Hungarian algorithm
 * with potentials, O(n²·m)). Requires rows ≤ columns; returns the column of each row.
 */
export function bestAssignment(score: readonly (readonly number[])[]): number[] {
  const n = score.length;
  const m = score[0]?.length ?? 0;
  if (n === 0) return [];
  if (m < n) fail('precondition', `cannot assign ${n} originals to ${m} reconstructions`);
  for (const row of score) {
    if (row.length !== m) fail('shape', 'assignment scores must form a rectangle');
    for (const v of row) if (!Number.isFinite(v)) fail('non-finite', 'assignment scores must be finite (use −MSE, not PSNR)');
  }
  // Minimise cost = −score. 1-based arrays; column 0 is the virtual start.
  const u = new Float64Array(n + 1);
  const v = new Float64Array(m + 1);
  const p = new Int32Array(m + 1); // p[j]: row matched to column j (0 = none)
  const way = new Int32Array(m + 1);
  for (let i = 1; i <= n; i++) {
    p[0] = i;
    let j0 = 0;
    const minv = new Float64Array(m + 1).fill(Infinity);
    const used = new Uint8Array(m + 1);
    do {
      used[j0] = 1;
      const i0 = p[j0]!;
      let delta = Infinity;
      let j1 = 0;
      for (let j = 1; j <= m; j++) {
        if (used[j]) continue;
        const cur = -score[i0 - 1]![j - 1]! - u[i0]! - v[j]!;
        if (cur < minv[j]!) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j]! < delta) {
          delta = minv[j]!;
          j1 = j;
        }
      }
      for (let j = 0; j <= m; j++) {
        if (used[j]) {
          u[p[j]!]! += delta;
          v[j]! -= delta;
        } else minv[j]! -= delta;
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0]!;
      p[j0] = p[j1]!;
      j0 = j1;
    } while (j0 !== 0);
  }
  const out = new Array<number>(n).fill(-1);
  for (let j = 1; j <= m; j++) if (p[j]! > 0) out[p[j]! - 1] = j - 1;
  return out;
}
