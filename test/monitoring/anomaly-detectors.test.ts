import { describe, expect, it } from 'vitest';
import type { Contribution, ContributionDiagnostic } from '../../src/aggregation/types.js';
import { SeededRng } from '../../src/core/rng.js';
import { scale, weightedMean } from '../../src/core/vector.js';
import type { Evaluation } from '../../src/federation/engine.js';
import { accuracyDrop, aggregatorRejections, centreOutliers, classCollapses, detectAnomalies, directionFlips, normOutliers, sybilClusters } from '../../src/monitoring/anomaly-detectors.js';
import { detectorsSchema } from '../../src/monitoring/config.js';
import { ContributionHistory, computeSignals, type RoundSignals } from '../../src/monitoring/signals.js';

const cfg = detectorsSchema.parse({});
const DIM = 2000;

/** Honest updates: a shared direction plus independent noise, like non-IID local training. */
function honest(n: number, seed: string, round = 1): Contribution[] {
  const rng = SeededRng.from(seed, 'common');
  const common = Float32Array.from({ length: DIM }, () => rng.normal());
  return Array.from({ length: n }, (_, k) => {
    const r = SeededRng.from(seed, round, k);
    const size = 0.8 + 0.4 * r.next();
    return { id: `p${k + 1}`, weight: 100, update: Float32Array.from(common, (c) => size * (c + 1.2 * r.normal())) };
  });
}

const evaluation = (accuracy: number, perClass = [accuracy, accuracy, accuracy]): Evaluation => ({ loss: 1 - accuracy, accuracy, perClassAccuracy: perClass });

function signalsOf(cs: Contribution[], opts: { history?: ContributionHistory; ev?: Evaluation; base?: Evaluation; diagnostics?: ContributionDiagnostic[]; round?: number } = {}): RoundSignals {
  const aggregate = weightedMean(cs.map((c) => c.update), cs.map((c) => c.weight));
  return computeSignals({
    round: opts.round ?? 1, contributions: cs, aggregate, diagnostics: opts.diagnostics ?? cs.map((c) => ({ id: c.id, accepted: true, weight: 1 / cs.length })),
    evaluation: opts.ev ?? evaluation(0.9), baseline: opts.base ?? evaluation(0.9), baselineRound: 0,
  }, opts.history ?? new ContributionHistory(), cfg.minHistory);
}

describe('anomaly detectors', () => {
  it('honest rounds raise nothing (true negatives for every detector)', () => {
    for (const seed of ['a', 'b', 'c', 'd']) {
      const s = signalsOf(honest(10, seed));
      expect(detectAnomalies(s, cfg)).toEqual([]);
    }
  });

  it('norm-outlier: a boosted update, critical when extreme; and against its own history', () => {
    const cs = honest(10, 'n');
    cs[3] = { ...cs[3]!, update: scale(cs[3]!.update, 10) };
    const found = normOutliers(signalsOf(cs), cfg);
    expect(found.map((f) => [f.subject, f.severity])).toEqual([['p4', 'critical']]);
    expect(found[0]!.evidence.normZ as number).toBeGreaterThan(cfg.normZ);
    expect(found[0]!.evidence.aggregated).toBe(true);
    const discarded = normOutliers(signalsOf(cs, { diagnostics: cs.map((c) => ({ id: c.id, accepted: c.id !== 'p4', weight: c.id !== 'p4' ? 1 / 9 : 0 })) }), cfg);
    expect(discarded[0]!.evidence.aggregated).toBe(false);

    // history: p1 is steady for 3 rounds, then everyone sends 10× their usual norm (only history can tell)
    const history = new ContributionHistory();
    for (let round = 1; round <= 3; round++) signalsOf(honest(5, 'h', round), { history, round });
    const big = honest(5, 'h', 4).map((c) => ({ ...c, update: scale(c.update, 10) }));
    const s = signalsOf(big, { history, round: 4 });
    expect(s.contributions.every((c) => c.historyRatio! > 5)).toBe(true);
    expect(normOutliers(s, cfg).map((f) => f.subject)).toEqual(['p1', 'p2', 'p3', 'p4', 'p5']);

  });

  it('norm-outlier severity: critical when extreme, info for a contributor that is always this large', () => {
    const severity = (normZ: number, historyRatio?: number): string[] => {
      const c = (id: string, z: number, ratio?: number) => ({ id, norm: 1 + z, normZ: z, ...(ratio !== undefined ? { historyRatio: ratio } : {}), cosineToAggregate: 0.9, cosineToCentre: 0.9, distanceToCentre: 1, centreZ: 0 });
      const ev = evaluation(0.9);
      const s: RoundSignals = {
        round: 1, contributions: [c('x', normZ, historyRatio), c('y', 0), c('z', 0.5)], pairwiseCosine: new Float64Array(9),
        evaluation: ev, baseline: ev, baselineRound: 0, change: { accuracy: 0, loss: 0, perClassAccuracy: [] },
      };
      return normOutliers(s, cfg).map((f) => f.severity);
    };
    expect(severity(10)).toEqual(['warning']); // no history yet
    expect(severity(10, 1.1)).toEqual(['info']); // always this large
    expect(severity(10, 2)).toEqual(['warning']); // larger than its usual
    expect(severity(30, 1)).toEqual(['critical']); // extreme whatever its history
    expect(severity(2, 6)).toEqual(['warning']); // ordinary in the round, 6× its own usual
    expect(severity(2, 16)).toEqual(['critical']);
    expect(severity(7, 1)).toEqual([]);
  });

  it('direction-flip: a sign-flipped update; and a participant turning against its own past', () => {
    const cs = honest(10, 'f');
    cs[0] = { ...cs[0]!, update: scale(cs[0]!.update, -1) };
    const found = directionFlips(signalsOf(cs), cfg);
    expect(found.map((f) => f.subject)).toEqual(['p1']);
    expect(found[0]!.evidence.cosineToCentre as number).toBeLessThan(-0.1);

    const history = new ContributionHistory();
    for (let round = 1; round <= 3; round++) signalsOf(honest(6, 'g', round), { history, round });
    const next = honest(6, 'g', 4);
    next[2] = { ...next[2]!, update: scale(next[2]!.update, -1) };
    const s = signalsOf(next, { history, round: 4 });
    expect(s.contributions[2]!.cosineToHistory!).toBeLessThan(0);
    const flips = directionFlips(s, cfg);
    expect(flips.map((f) => [f.subject, f.severity])).toEqual([['p3', 'critical']]);
  });

  it('centre-outlier: an update of ordinary norm in an unusual direction', () => {
    const cs = honest(10, 'c');
    const rng = SeededRng.from('odd');
    const odd = Float32Array.from({ length: DIM }, () => rng.normal());
    const targetNorm = Math.hypot(...cs[5]!.update);
    const oddNorm = Math.hypot(...odd);
    cs[5] = { ...cs[5]!, update: scale(odd, (1.6 * targetNorm) / oddNorm) };
    // z ≈ 10 here: above the textbook 3.5, below the default 15 (calibrated on non-IID MNIST runs)
    const found = centreOutliers(signalsOf(cs), { ...cfg, centreZ: 3.5 });
    expect(found.map((f) => f.subject)).toEqual(['p6']);
    expect(centreOutliers(signalsOf(honest(10, 'c')), { ...cfg, centreZ: 3.5 })).toEqual([]);
  });

  it('sybil-cluster: near-identical copies form one cluster; distinct honest updates do not', () => {
    const cs = honest(8, 's');
    const rng = SeededRng.from('jitter');
    for (const k of [1, 4, 6]) cs[k] = { ...cs[k]!, update: Float32Array.from(cs[0]!.update, (v) => v + 1e-3 * rng.normal()) };
    const found = sybilClusters(signalsOf(cs), cfg);
    expect(found).toHaveLength(1);
    expect(found[0]!.evidence.members).toEqual(['p1', 'p2', 'p5', 'p7']);
    expect(found[0]!.severity).toBe('critical');
    expect(sybilClusters(signalsOf(honest(8, 't')), cfg)).toEqual([]);
  });

  it('accuracy-drop and class-collapse: against the model the round started from', () => {
    const drop = accuracyDrop(signalsOf(honest(5, 'x'), { ev: evaluation(0.6), base: evaluation(0.9) }), cfg);
    expect(drop.map((f) => f.severity)).toEqual(['critical']);
    expect(drop[0]!.evidence.drop).toBeCloseTo(0.3, 6);
    expect(accuracyDrop(signalsOf(honest(5, 'x'), { ev: evaluation(0.84), base: evaluation(0.9) }), cfg).map((f) => f.severity)).toEqual(['warning']);
    expect(accuracyDrop(signalsOf(honest(5, 'x'), { ev: evaluation(0.87), base: evaluation(0.9) }), cfg)).toEqual([]);

    const collapse = classCollapses(signalsOf(honest(5, 'x'), { ev: evaluation(0.8, [0.9, 0.05, 0.9]), base: evaluation(0.9, [0.9, 0.9, 0.9]) }), cfg);
    expect(collapse).toHaveLength(1);
    expect(collapse[0]!.evidence.classes).toEqual([1]);
    expect(collapse[0]!.severity).toBe('critical');
    expect(classCollapses(signalsOf(honest(5, 'x'), { ev: evaluation(0.85, [0.8, 0.75, 0.9]), base: evaluation(0.9, [0.9, 0.9, 0.9]) }), cfg)).toEqual([]);
  });

  it('aggregator-rejected: reports what a robust aggregator discarded, as info', () => {
    const cs = honest(4, 'r');
    const s = signalsOf(cs, { diagnostics: cs.map((c, k) => ({ id: c.id, accepted: k !== 2, weight: k !== 2 ? 1 / 3 : 0, score: k, ...(k === 2 ? { reason: 'Krum score 9.1 is not among the n − f lowest' } : {}) })) });
    const found = aggregatorRejections(s);
    expect(found.map((f) => [f.subject, f.severity, f.evidence.reason])).toEqual([['p3', 'info', 'Krum score 9.1 is not among the n − f lowest']]);
  });
});
