import { describe, expect, it } from 'vitest';
import type { Aggregator } from '../../src/aggregation/types.js';
import { SeededRng } from '../../src/core/rng.js';
import { weightedMean } from '../../src/core/vector.js';
import type { Finding } from '../../src/federation/engine.js';
import { findingSubjects, ReputationTracker, reputationWeighted } from '../../src/monitoring/reputation.js';

const f = (subject: string, severity: Finding['severity'], members?: string[]): Finding => ({
  type: 'norm-outlier', severity, round: 1, subject, message: '', evidence: members ? { members } : {},
});

const mean: Aggregator = {
  name: 'mean',
  aggregate: (cs) => ({ aggregate: weightedMean(cs.map((c) => c.update), cs.map((c) => c.weight)), diagnostics: cs.map((c) => ({ id: c.id, accepted: true, weight: c.weight })) }),
};

describe('reputation', () => {
  it('newcomers start at 0.5; clean contributors rise, flagged ones fall, and evidence fades', () => {
    const t = new ReputationTracker({ decay: 0.9 });
    expect(t.reputation('new')).toBe(0.5);
    for (let r = 0; r < 10; r++) t.update(['good', 'bad', 'meh'], [f('bad', 'critical'), ...(r % 2 === 0 ? [f('meh', 'warning')] : [])]);
    expect(t.reputation('good')).toBeGreaterThan(0.85);
    expect(t.reputation('bad')).toBeLessThan(0.15);
    expect(t.reputation('meh')).toBeGreaterThan(t.reputation('bad'));
    expect(t.reputation('meh')).toBeLessThan(t.reputation('good'));
    // the bad participant behaves for a while and recovers (forgetting)
    const before = t.reputation('bad');
    for (let r = 0; r < 20; r++) t.update(['bad'], []);
    expect(t.reputation('bad')).toBeGreaterThan(Math.max(0.7, before));
    expect(t.snapshot()).toMatchObject({ good: expect.any(Number), bad: expect.any(Number) });
  });

  it('info findings cost nothing; cluster members listed in evidence are all penalised', () => {
    expect(findingSubjects(f('a,b', 'warning', ['c']))).toEqual(['a', 'b', 'c']);
    const t = new ReputationTracker({ decay: 1 });
    t.update(['a', 'b', 'c', 'd'], [f('x', 'critical', ['a', 'b']), f('c', 'info')]);
    expect(t.reputation('a')).toBeCloseTo(1 / 3, 10);
    expect(t.reputation('b')).toBeCloseTo(1 / 3, 10);
    expect(t.reputation('c')).toBeCloseTo(2 / 3, 10);
    expect(t.reputation('d')).toBeCloseTo(2 / 3, 10);
  });

  it('the aggregator wrapper scales weights by reputation and excludes participants below the floor', () => {
    const t = new ReputationTracker({ decay: 1 });
    for (let r = 0; r < 4; r++) t.update(['a', 'b', 'c'], [f('c', 'critical')]);
    // a, b: 5/6; c: 1/6
    const cs = [
      { id: 'a', update: Float32Array.from([1, 0]), weight: 10 },
      { id: 'b', update: Float32Array.from([0, 1]), weight: 10 },
      { id: 'c', update: Float32Array.from([100, 100]), weight: 10 },
    ];
    const ctx = { round: 5, byzantine: 0, rng: SeededRng.from(1) };
    const weighted = reputationWeighted(mean, t, { exclude: 0 }).aggregate(cs, ctx);
    // weights 10·5/6, 10·5/6, 10·1/6 → x = (25/3 + 500/3) / (55/3) = 105/11
    expect(weighted.aggregate[0]).toBeCloseTo(105 / 11, 5);
    expect(weighted.aggregate[1]).toBeCloseTo(105 / 11, 5);
    const excluding = reputationWeighted(mean, t, { exclude: 0.2 });
    expect(excluding.name).toBe('mean+reputation');
    const r = excluding.aggregate(cs, ctx);
    expect(Array.from(r.aggregate)).toEqual([0.5, 0.5]);
    expect(r.diagnostics.find((d) => d.id === 'c')).toMatchObject({ accepted: false, weight: 0, reason: expect.stringMatching(/reputation 0.17 is below monitoring.reputation.exclude 0.2/) });
    expect(() => excluding.aggregate([cs[2]!], ctx)).toThrow(/all 1 contributions are excluded by reputation/);
  });
});
