/**
 * Gaussian noise for differential privacy from the operating system's CSPRNG (node:crypto
 * randomFillSync) — never Math.random or a seeded generator, so the noise cannot be predicted
 * or replayed from a seed.
 *
 * Method: Box–Muller on 53-bit uniforms. Each pair of normals consumes four fresh 32-bit words:
 * u1 ∈ (0, 1] and u2 ∈ [0, 1) with the full 53-bit double mantissa, r = √(−2 ln u1),
 * (r cos 2πu2, r sin 2πu2). Box–Muller has no rejection loop, so its running time does not depend
 * on the values drawn (rejection samplers — polar method, Ziggurat — do; timing attacks on DP
 * samplers: Jin et al. 2022). Randomness is drawn in batches (16 Ki pairs per syscall) and the
 * batch buffer is zeroed after use.
 *
 * What this does NOT defend against (see src/privacy/README.md): floating-point attacks on the
 * output (Mironov 2012 for Laplace; Jin et al. 2022 for Gaussian samplers) — the set of doubles/floats
 * that x + noise can take depends on x, so an adversary who sees exact low-order bits could in
 * principle distinguish neighbouring inputs. The tail is also truncated at |z| ≤ √(2·53·ln 2)
 * ≈ 8.57 (probability < 1e−17). A discrete Gaussian over a fixed grid (Canonne–Kamath–Steinke
 * 2020) would close both gaps; it is not implemented.
 */
import { randomFillSync } from 'node:crypto';
import { fail } from '../core/errors.js';

const PAIRS_PER_BATCH = 1 << 14;
const TWO_POW_26 = 67108864;
const TWO_POW_M53 = 2 ** -53;
const TWO_PI = 2 * Math.PI;

/**
 * out[i] = (base?.[i] ?? 0) + N(0, σ²) for every i, fresh CSPRNG randomness each call; adding to
 * `base` here keeps the sum in double precision until the single rounding into `out`.
 */
function writeNormals(
  out: Float32Array | Float64Array,
  sigma: number,
  base: Float32Array | undefined,
): void {
  const n = out.length;
  const buf = new Uint32Array(4 * Math.min(PAIRS_PER_BATCH, Math.ceil(n / 2)));
  let i = 0;
  try {
    while (i < n) {
      const pairs = Math.min(PAIRS_PER_BATCH, Math.ceil((n - i) / 2));
      const words = buf.subarray(0, 4 * pairs);
      randomFillSync(words);
      for (let p = 0; p < pairs; p++) {
        const w = 4 * p;
        // 27 + 26 = 53 random bits per uniform.
        const u1 = ((words[w]! >>> 5) * TWO_POW_26 + (words[w + 1]! >>> 6) + 1) * TWO_POW_M53;
        const u2 = ((words[w + 2]! >>> 5) * TWO_POW_26 + (words[w + 3]! >>> 6)) * TWO_POW_M53;
        const r = sigma * Math.sqrt(-2 * Math.log(u1));
        const theta = TWO_PI * u2;
        out[i] = (base ? base[i]! : 0) + r * Math.cos(theta);
        i++;
        if (i < n) {
          out[i] = (base ? base[i]! : 0) + r * Math.sin(theta);
          i++;
        }
      }
    }
  } finally {
    buf.fill(0);
  }
}

function checkSigma(sigma: number): void {
  if (!Number.isFinite(sigma) || sigma < 0) {
    fail('precondition', `Gaussian noise std must be a finite number ≥ 0, got ${sigma}`);
  }
}

/** Fill `out` with independent N(0, σ²) draws from the CSPRNG; returns `out`. */
export function fillGaussian<T extends Float32Array | Float64Array>(out: T, sigma = 1): T {
  checkSigma(sigma);
  writeNormals(out, sigma, undefined);
  return out;
}

/** A fresh vector of N(0, σ²) noise. */
export function gaussianNoise(dim: number, sigma: number): Float32Array {
  if (!Number.isInteger(dim) || dim < 0) fail('precondition', `noise dimension must be a whole number ≥ 0, got ${dim}`);
  return fillGaussian(new Float32Array(dim), sigma);
}

/** v + N(0, σ² I) as a new vector (sum formed in double precision, rounded once to float32). */
export function addGaussianNoise(v: Float32Array, sigma: number): Float32Array {
  checkSigma(sigma);
  const out = new Float32Array(v.length);
  writeNormals(out, sigma, v);
  return out;
}

/** One N(0, σ²) draw (e.g. the noise on a count). */
export function secureNormal(sigma = 1): number {
  return fillGaussian(new Float64Array(1), sigma)[0]!;
}
