import { describe, expect, it } from 'vitest';
import { FedsecError } from '../../src/core/errors.js';
import { PrivacyBudget } from '../../src/privacy/budget.js';
import { RdpAccountant } from '../../src/privacy/rdp-accountant.js';

const perRound = { noiseMultiplier: 1.0, samplingRate: 0.1, steps: 1 };

function runUntilStopped(budget: PrivacyBudget, maxRounds = 1000) {
  for (let round = 1; round <= maxRounds; round++) {
    const check = budget.checkRound({ ...perRound, round });
    if (!check.allowed) return { round, check };
    budget.recordRound({ ...perRound, round });
  }
  throw new Error('budget never stopped');
}

describe('PrivacyBudget', () => {
  it('stops at the first round that would exceed ε, with an actionable reason', () => {
    const budget = new PrivacyBudget({ epsilon: 8, delta: 1e-5 });
    const { round, check } = runUntilStopped(budget);
    // Independently: the stopping round is the first T with ε(T) > 8.
    const eps = (t: number) => new RdpAccountant().compose({ ...perRound, steps: t }).epsilon(1e-5).epsilon;
    expect(eps(round - 1)).toBeLessThanOrEqual(8);
    expect(eps(round)).toBeGreaterThan(8);
    expect(check.allowed).toBe(false);
    if (check.allowed) return;
    expect(check.epsilonAfter).toBeCloseTo(eps(round), 12);
    expect(check.reason).toMatch(
      new RegExp(`^round ${round} would raise ε to 8\\.\\d+ > budget 8 \\(δ=1e-5\\); stopping with the round-${round - 1} model$`),
    );
    expect(budget.spent()).toBeCloseTo(eps(round - 1), 12);
  });

  it('keeps a per-round ε history that increases', () => {
    const budget = new PrivacyBudget({ epsilon: 3, delta: 1e-5 });
    const { round } = runUntilStopped(budget);
    const h = budget.history;
    expect(h).toHaveLength(round - 1);
    expect(h.map((e) => e.round)).toEqual(Array.from({ length: round - 1 }, (_, i) => i + 1));
    for (let i = 1; i < h.length; i++) expect(h[i]!.epsilon).toBeGreaterThan(h[i - 1]!.epsilon);
    expect(h.at(-1)!.epsilon).toBeLessThanOrEqual(3);
  });

  it('refuses to record a round over budget (fail closed) and rounds out of order', () => {
    const budget = new PrivacyBudget({ epsilon: 0.5, delta: 1e-5 });
    const err = (() => {
      try {
        budget.recordRound({ noiseMultiplier: 0.5, samplingRate: 1, steps: 1, round: 1 });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(FedsecError);
    expect((err as FedsecError).code).toBe('budget');
    expect((err as FedsecError).message).toMatch(/stopping with the initial model/);
    expect(budget.accountant.events).toHaveLength(0);
    const ok = new PrivacyBudget({ epsilon: 10, delta: 1e-5 });
    ok.recordRound({ ...perRound, round: 3 });
    expect(() => ok.recordRound({ ...perRound, round: 3 })).toThrow(/recorded after round 3/);
  });

  it('without an ε limit it only tracks', () => {
    const budget = new PrivacyBudget({ delta: 1e-5 });
    for (let round = 0; round < 50; round++) budget.recordRound({ noiseMultiplier: 0.3, samplingRate: 1, steps: 1, round });
    expect(budget.spent()).toBeGreaterThan(100);
    expect(budget.checkRound({ noiseMultiplier: 0, samplingRate: 1, steps: 1, round: 51 })).toMatchObject({ allowed: true });
  });

  it('survives a JSON round trip (resume)', () => {
    const budget = new PrivacyBudget({ epsilon: 5, delta: 1e-6 });
    for (let round = 1; round <= 10; round++) budget.recordRound({ ...perRound, round });
    const back = PrivacyBudget.fromJSON(JSON.parse(JSON.stringify(budget)));
    expect(back.history).toEqual(budget.history);
    expect(back.epsilon).toBe(5);
    expect(back.delta).toBe(1e-6);
    expect(back.checkRound({ ...perRound, round: 11 })).toEqual(budget.checkRound({ ...perRound, round: 11 }));
    expect(() => PrivacyBudget.fromJSON({ limit: { epsilon: 5, delta: 3 }, accountant: {}, history: [] })).toThrow(/limit\.delta/);
  });

  it('validates the limit', () => {
    expect(() => new PrivacyBudget({ epsilon: 0, delta: 1e-5 })).toThrow(/ε must be positive/);
    expect(() => new PrivacyBudget({ epsilon: 1, delta: 0 })).toThrow(/δ must be in \(0, 1\)/);
  });
});
