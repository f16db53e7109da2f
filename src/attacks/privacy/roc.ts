/**
 * ROC analysis of a membership score (higher = "member"). Examples with equal scores are one
 * threshold step: the curve moves diagonally across them, so the trapezoidal AUC gives a tied
 * member/non-member pair half credit — exactly the Mann–Whitney U statistic / (P·N).
 * TPR at a low FPR (Carlini et al. 2022, "Membership inference attacks from first principles")
 * is read off the curve without interpolation: the largest TPR of any threshold whose FPR does
 * not exceed the target (a threshold that is actually achievable, never an optimistic blend).
 */
import { fail } from '../../core/errors.js';

export interface RocPoint {
  readonly fpr: number;
  readonly tpr: number;
  /** Examples with score ≥ threshold are called members. */
  readonly threshold: number;
}

export interface RocSummary {
  readonly auc: number;
  readonly tprAt1PctFpr: number;
  readonly tprAt01PctFpr: number;
  /** max over thresholds of (TPR + TNR)/2. */
  readonly balancedAccuracy: number;
  readonly positives: number;
  readonly negatives: number;
}

function check(scores: ArrayLike<number>, isMember: ArrayLike<boolean>): { pos: number; neg: number } {
  if (scores.length !== isMember.length) fail('shape', `${scores.length} scores but ${isMember.length} membership labels`);
  let pos = 0;
  for (let i = 0; i < scores.length; i++) {
    if (Number.isNaN(scores[i]!)) fail('non-finite', `membership score ${i} is NaN`);
    if (isMember[i]) pos++;
  }
  const neg = scores.length - pos;
  if (pos === 0 || neg === 0) fail('precondition', `ROC needs members and non-members, got ${pos} and ${neg}`);
  return { pos, neg };
}

/** The ROC curve from (0, 0) to (1, 1), one point per distinct score (descending). */
export function rocCurve(scores: ArrayLike<number>, isMember: ArrayLike<boolean>): RocPoint[] {
  const { pos, neg } = check(scores, isMember);
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]! || 0);
  const points: RocPoint[] = [{ fpr: 0, tpr: 0, threshold: Infinity }];
  let tp = 0;
  let fp = 0;
  let k = 0;
  while (k < order.length) {
    const s = scores[order[k]!]!;
    // Take every example tied at this score in one step.
    while (k < order.length && (scores[order[k]!] === s)) {
      if (isMember[order[k]!]) tp++;
      else fp++;
      k++;
    }
    points.push({ fpr: fp / neg, tpr: tp / pos, threshold: s });
  }
  return points;
}

/** Area under the curve by the trapezoidal rule (ties → half credit). */
export function aucFromCurve(curve: readonly RocPoint[]): number {
  let area = 0;
  for (let i = 1; i < curve.length; i++) {
    const a = curve[i - 1]!;
    const b = curve[i]!;
    area += (b.fpr - a.fpr) * (a.tpr + b.tpr) * 0.5;
  }
  return area;
}

/** Largest TPR at any threshold with FPR ≤ maxFpr. */
export function tprAtFpr(curve: readonly RocPoint[], maxFpr: number): number {
  if (!(maxFpr >= 0 && maxFpr <= 1)) fail('precondition', `target FPR must be in [0, 1], got ${maxFpr}`);
  let best = 0;
  for (const p of curve) if (p.fpr <= maxFpr + 1e-12 && p.tpr > best) best = p.tpr;
  return best;
}

export function rocSummary(scores: ArrayLike<number>, isMember: ArrayLike<boolean>): RocSummary & { curve: RocPoint[] } {
  const curve = rocCurve(scores, isMember);
  const pos = Array.from(isMember).filter(Boolean).length;
  return {
    curve,
    auc: aucFromCurve(curve),
    tprAt1PctFpr: tprAtFpr(curve, 0.01),
    tprAt01PctFpr: tprAtFpr(curve, 0.001),
    balancedAccuracy: Math.max(...curve.map((p) => (p.tpr + 1 - p.fpr) / 2)),
    positives: pos,
    negatives: isMember.length - pos,
  };
}

/**
 * Standard deviation of the AUC of a score that carries no information (Hanley & McNeil 1982 at
 * AUC = ½): √((P + N + 1) / (12·P·N)). An AUC within ~2 of these of 0.5 is indistinguishable from
 * guessing on this many examples.
 */
export function aucNullSd(positives: number, negatives: number): number {
  if (!(positives > 0 && negatives > 0)) fail('precondition', `need positives and negatives, got ${positives} and ${negatives}`);
  return Math.sqrt((positives + negatives + 1) / (12 * positives * negatives));
}

/** A curve thinned to at most `maxPoints` points (for charts), keeping both ends. */
export function thinCurve(curve: readonly RocPoint[], maxPoints = 200): RocPoint[] {
  if (curve.length <= maxPoints) return [...curve];
  const step = (curve.length - 1) / (maxPoints - 1);
  const out: RocPoint[] = [];
  for (let i = 0; i < maxPoints; i++) out.push(curve[Math.round(i * step)]!);
  return out;
}
