/**
 * The few special functions the privacy code needs, in double precision and in log space where
 * values under- or overflow: log-sum-exp, log(erfc) and the standard normal CDF.
 *
 * erfc: a positive-term series for erf on [0, 2) (no cancellation inside the series) and the
 * Laplace continued fraction for x ≥ 2, evaluated in log space so log(erfc(x)) stays finite for
 * any x (erfc(30) ≈ 2.6e-393 underflows a double, its log does not). Relative error ≲ 1e-14,
 * checked against mpmath in test/privacy/special.test.ts.
 */

const LOG_SQRT_PI = 0.5 * Math.log(Math.PI);
const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

/** log(exp(a) + exp(b)) without overflow; −∞ is the identity. */
export function logAddExp(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  const hi = Math.max(a, b);
  return hi + Math.log1p(Math.exp(Math.min(a, b) - hi));
}

/** log(exp(a) − exp(b)) for a ≥ b; NaN when a < b (the difference would be negative). */
export function logSubExp(a: number, b: number): number {
  if (b === -Infinity) return a;
  if (a < b) return Number.NaN;
  if (a === b) return -Infinity;
  return a + Math.log1p(-Math.exp(b - a));
}

/** erf(x) for 0 ≤ x < ~3 via erf(x) = 2/√π · e^{−x²} · Σ 2ⁿ x^{2n+1} / (2n+1)!! (all terms positive). */
function erfSeries(x: number): number {
  const x2 = x * x;
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return TWO_OVER_SQRT_PI * Math.exp(-x2) * sum;
}

/**
 * log(erfc(x)) for x ≥ 2 from erfc(x) = e^{−x²} / (√π · g(x)),
 * g(x) = x + (1/2)/(x + 1/(x + (3/2)/(x + …))) — modified Lentz evaluation.
 */
function logErfcContinuedFraction(x: number): number {
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let n = 1; n < 5000; n++) {
    const a = n / 2;
    d = x + a * d;
    if (d === 0) d = tiny;
    d = 1 / d;
    c = x + a / c;
    if (c === 0) c = tiny;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return -x * x - LOG_SQRT_PI - Math.log(f);
}

/** log(erfc(x)) for every real x (−∞ → log 2, +∞ → −∞). */
export function logErfc(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  if (x === Infinity) return -Infinity;
  if (x === -Infinity) return Math.LN2;
  if (x >= 2) return logErfcContinuedFraction(x);
  if (x >= 0) return Math.log1p(-erfSeries(x));
  const ax = -x;
  // erfc(x) = 2 − erfc(|x|) = 1 + erf(|x|): no cancellation for negative x.
  if (ax < 2) return Math.log1p(erfSeries(ax));
  return Math.LN2 + Math.log1p(-0.5 * Math.exp(logErfcContinuedFraction(ax)));
}

export function erfc(x: number): number {
  return Math.exp(logErfc(x));
}

/** Standard normal CDF Φ(x) = erfc(−x/√2)/2. */
export function normalCdf(x: number): number {
  return 0.5 * erfc(-x / Math.SQRT2);
}
