import { describe, expect, it } from 'vitest';
import { erfc, logAddExp, logErfc, logSubExp, normalCdf } from '../../src/privacy/special.js';

// log(erfc(x)) computed with mpmath at 40 digits (independent arbitrary-precision reference).
const MPMATH_LOG_ERFC: readonly [number, number][] = [
  [-40, 0.6931471805599453],
  [-3, 0.6931361352504468],
  [-1.9999, 0.6908045376670718],
  [-1, 0.6112323176780705],
  [-0.3, 0.28414589714140825],
  [0, 0],
  [0.3, -0.3984300514400853],
  [1, -1.8496055099332482],
  [1.9999, -5.36449945777353],
  [2, -5.364941264616638],
  [2.5, -7.806815272727264],
  [5, -27.200889545537436],
  [10, -102.87988902484489],
  [30, -903.9741171106439],
  [100, -10005.177585122665],
];

describe('logErfc', () => {
  it.each(MPMATH_LOG_ERFC)('log erfc(%d) matches mpmath to 1e-13 relative', (x, ref) => {
    const got = logErfc(x);
    expect(Math.abs(got - ref)).toBeLessThanOrEqual(1e-13 * Math.max(1, Math.abs(ref)));
  });

  it('handles infinities and NaN', () => {
    expect(logErfc(Infinity)).toBe(-Infinity);
    expect(logErfc(-Infinity)).toBeCloseTo(Math.LN2, 15);
    expect(logErfc(Number.NaN)).toBeNaN();
  });

  it('is decreasing across the series / continued-fraction switch', () => {
    let prev = logErfc(-5);
    for (let x = -4.99; x < 6; x += 0.01) {
      const v = logErfc(x);
      expect(v).toBeLessThan(prev);
      prev = v;
    }
  });

  it('erfc(x) + erfc(−x) = 2 and Φ(0) = 1/2, Φ(1.959963984540054) = 0.975', () => {
    for (const x of [0.1, 0.7, 1.5, 2.2, 3.7]) expect(erfc(x) + erfc(-x)).toBeCloseTo(2, 14);
    expect(normalCdf(0)).toBe(0.5);
    expect(normalCdf(1.959963984540054)).toBeCloseTo(0.975, 14);
  });
});

describe('log-space sums', () => {
  it('logAddExp / logSubExp', () => {
    expect(logAddExp(Math.log(2), Math.log(3))).toBeCloseTo(Math.log(5), 15);
    expect(logAddExp(-Infinity, 1.5)).toBe(1.5);
    expect(logAddExp(1000, 1000)).toBeCloseTo(1000 + Math.LN2, 12);
    expect(logSubExp(Math.log(5), Math.log(3))).toBeCloseTo(Math.log(2), 15);
    expect(logSubExp(1, 1)).toBe(-Infinity);
    expect(logSubExp(1, 2)).toBeNaN();
  });
});
