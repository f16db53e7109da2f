import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FedsecError } from '../../src/core/errors.js';
import { aucFromCurve, aucNullSd, rocCurve, rocSummary, thinCurve, tprAtFpr } from '../../src/attacks/privacy/roc.js';

/** Mann–Whitney: P(score_member > score_non) + ½·P(tie), by brute force over all pairs. */
function bruteAuc(scores: readonly number[], member: readonly boolean[]): number {
  let wins = 0;
  let pairs = 0;
  scores.forEach((s, i) => {
    if (!member[i]) return;
    scores.forEach((t, j) => {
      if (member[j]) return;
      pairs++;
      wins += s > t ? 1 : s === t ? 0.5 : 0;
    });
  });
  return wins / pairs;
}

const auc = (s: number[], m: boolean[]): number => aucFromCurve(rocCurve(s, m));

describe('ROC / AUC', () => {
  it('known examples: perfect, reversed, all tied, a hand-computed case with a tie', () => {
    expect(auc([3, 2, 1, 0], [true, true, false, false])).toBe(1);
    expect(auc([0, 1, 2, 3], [true, true, false, false])).toBe(0);
    expect(auc([5, 5, 5, 5, 5], [true, false, true, false, false])).toBe(0.5);
    // members 0.9 and 0.8, non-members 0.8 and 0.1: 3 wins + one tie = 3.5 / 4.
    expect(auc([0.9, 0.8, 0.8, 0.1], [true, false, true, false])).toBeCloseTo(0.875, 12);
  });

  it('the curve steps over ties as one threshold and runs from (0,0) to (1,1)', () => {
    const curve = rocCurve([0.9, 0.8, 0.8, 0.1], [true, false, true, false]);
    expect(curve.map((p) => [p.fpr, p.tpr])).toEqual([[0, 0], [0, 0.5], [0.5, 1], [1, 1]]);
    expect(curve[2]!.threshold).toBe(0.8);
  });

  it('equals the Mann–Whitney statistic on random scores with many ties', () => {
    fc.assert(fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 5 }), fc.boolean()), { minLength: 2, maxLength: 60 })
        .filter((a) => a.some(([, m]) => m) && a.some(([, m]) => !m)),
      (pairs) => {
        const s = pairs.map(([v]) => v);
        const m = pairs.map(([, b]) => b);
        expect(auc(s, m)).toBeCloseTo(bruteAuc(s, m), 10);
      },
    ), { numRuns: 300 });
  });

  it('TPR at low FPR reads an achievable threshold, without interpolation', () => {
    // 100 non-members scored 0..99, members: one above all non-members, the rest tied with the top non-member.
    const scores = [...Array.from({ length: 100 }, (_, i) => i), 1000, 99, 99];
    const member = [...Array.from({ length: 100 }, () => false), true, true, true];
    const curve = rocCurve(scores, member);
    expect(tprAtFpr(curve, 0)).toBeCloseTo(1 / 3, 12);
    expect(tprAtFpr(curve, 0.01)).toBe(1); // threshold 99 gives FPR exactly 1%
    expect(tprAtFpr(curve, 0.009)).toBeCloseTo(1 / 3, 12);
    const s = rocSummary(scores, member);
    expect(s.positives).toBe(3);
    expect(s.negatives).toBe(100);
    expect(s.tprAt1PctFpr).toBe(1);
  });

  it('the null spread matches the spread of AUCs of random scores', () => {
    let seed = 12345;
    const next = (): number => ((seed = (seed * 16807) % 2147483647) / 2147483647);
    const member = Array.from({ length: 300 }, (_, i) => i < 100);
    const aucs = Array.from({ length: 400 }, () => auc(member.map(() => next()), member));
    const mean = aucs.reduce((a, b) => a + b, 0) / aucs.length;
    const sd = Math.sqrt(aucs.reduce((a, b) => a + (b - mean) ** 2, 0) / (aucs.length - 1));
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.01);
    expect(sd / aucNullSd(100, 200)).toBeGreaterThan(0.85);
    expect(sd / aucNullSd(100, 200)).toBeLessThan(1.15);
  });

  it('thinning keeps both ends', () => {
    const scores = Array.from({ length: 1000 }, (_, i) => i);
    const member = scores.map((i) => i % 3 === 0);
    const thin = thinCurve(rocCurve(scores, member), 50);
    expect(thin).toHaveLength(50);
    expect(thin[0]).toMatchObject({ fpr: 0, tpr: 0 });
    expect(thin[49]).toMatchObject({ fpr: 1, tpr: 1 });
  });

  it('rejects NaN scores, one-class inputs and length mismatches', () => {
    expect(() => rocCurve([1, Number.NaN], [true, false])).toThrow(FedsecError);
    expect(() => rocCurve([1, 2], [true, true])).toThrow(/members and non-members/);
    expect(() => rocCurve([1, 2, 3], [true, false])).toThrow(/3 scores but 2/);
  });
});
