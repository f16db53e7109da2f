/**
 * End-to-end properties of a full round (coordinator + n participants, every message encoded and
 * decoded): with random inputs and random dropouts before any stage, the round completes exactly
 * when the liveness rule holds, and then the unmasked result is the exact modular sum of the
 * survivors' inputs; otherwise it aborts with a typed reason and releases nothing.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { SecAggSession } from '../../src/secure/config.js';
import { runInProcessRound, type DropoutPlan } from '../../src/secure/in-process-round.js';
import { SECAGG_STAGES } from '../../src/secure/messages.js';
import { dequantiseSum, levelsPerParticipant, quantisationScale } from '../../src/secure/quantise.js';
import { makeRoster, modularSum } from './helpers.js';

/** Independent model of when the round must complete (see coordinator.ts). */
function shouldComplete(session: SecAggSession, dropStage: readonly number[]): boolean {
  const { n, threshold: t, minSurvivors, neighbours } = session;
  const alive = (s: number) => new Set(Array.from({ length: n }, (_, u) => u).filter((u) => dropStage[u]! > s));
  const [u1, u2, u3, , u5] = [0, 1, 2, 3, 4].map(alive) as [Set<number>, Set<number>, Set<number>, Set<number>, Set<number>];
  const liveCount = (u: number, set: Set<number>) => neighbours[u]!.filter((v) => set.has(v)).length;
  const flat = (set: Set<number>) => set.size >= minSurvivors && [...set].every((u) => liveCount(u, set) >= t);
  if (!flat(u1) || !flat(u2) || u3.size < minSurvivors) return false;
  for (const v of u3) if (liveCount(v, u5) < t) return false;
  for (const v of u2) {
    if (u3.has(v) || !neighbours[v]!.some((u) => u3.has(u))) continue;
    if (liveCount(v, u5) < t) return false;
  }
  return true;
}

const roundCase = fc
  .record({
    n: fc.integer({ min: 3, max: 12 }),
    d: fc.integer({ min: 1, max: 50 }),
    modulusBits: fc.constantFrom(32, 32, 24, 16),
    kPick: fc.nat(),
    tPick: fc.nat(),
    stay: fc.integer({ min: 6, max: 40 }),
    dropPicks: fc.array(fc.nat(), { minLength: 12, maxLength: 12 }),
    valueSeed: fc.integer({ min: 1, max: 2 ** 31 - 2 }),
  })
  .map((c) => {
    const degrees = Array.from({ length: c.n - 2 }, (_, i) => i + 2).filter((k) => (c.n * k) % 2 === 0);
    const degree = degrees[c.kPick % degrees.length]!;
    const tMin = Math.floor(degree / 2) + 1;
    const threshold = tMin + (c.tPick % (degree - tMin + 1));
    // Stage index at which each participant drops (5 = never): drop with probability 5/(5 + stay).
    const dropStage = c.dropPicks.slice(0, c.n).map((p) => {
      const r = p % (5 + c.stay);
      return r < 5 ? r : 5;
    });
    return { ...c, degree, threshold, dropStage };
  });

describe('SecAgg+ round (property)', () => {
  it('returns the exact modular sum of the survivors, or aborts exactly when some survivor lacks t live neighbours', async () => {
    let done = 0;
    let aborted = 0;
    await fc.assert(
      fc.asyncProperty(roundCase, async (c) => {
        const { session, identities } = makeRoster(c.n, {
          vectorLength: c.d,
          degree: c.degree,
          threshold: c.threshold,
          modulusBits: c.modulusBits,
        });
        let state = c.valueSeed;
        const next = () => (state = (state * 48271) % 2147483647);
        const inputs = new Map(
          session.ids.map((id) => [id, Uint32Array.from({ length: c.d + 1 }, () => (next() * 2 + (next() & 1)) % 2 ** c.modulusBits)]),
        );
        const dropouts: DropoutPlan = {};
        session.ids.forEach((id, u) => {
          const s = c.dropStage[u]!;
          if (s < 5) ((dropouts[SECAGG_STAGES[s]!] ??= []) as string[]).push(id);
        });
        const report = await runInProcessRound({ session, identities, input: (id) => inputs.get(id)!, dropouts });
        expect(report.rejections).toEqual([]); // honest parties never reject each other
        const expectDone = shouldComplete(session, c.dropStage);
        if (report.outcome.type === 'done') {
          done++;
          expect(expectDone).toBe(true);
          const survivors = session.ids.filter((_, u) => c.dropStage[u]! > 2);
          expect(report.outcome.result.survivors).toEqual(survivors);
          const expected = modularSum(
            survivors.map((id) => inputs.get(id)!),
            c.d + 1,
            c.modulusBits,
          );
          expect(report.outcome.result.sum).toEqual(expected);
        } else {
          aborted++;
          expect(expectDone).toBe(false);
          const { abort } = report.outcome;
          expect(['too-few-neighbours', 'too-few-participants']).toContain(abort.code);
          expect(abort.message).toMatch(/no aggregate was released/);
          expect(report.outcome).not.toHaveProperty('result');
        }
      }),
      { numRuns: 45 },
    );
    // The generator must exercise both branches, or the property proves little.
    expect(done).toBeGreaterThan(5);
    expect(aborted).toBeGreaterThan(2);
  });

  it('aggregates weighted float updates: dequantised Σw·x and Σw of the survivors', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 4, max: 10 }),
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.float({ min: -3, max: 3, noNaN: true }), { minLength: 200, maxLength: 200 }),
        fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 10, maxLength: 10 }),
        fc.integer({ min: 0, max: 9 }),
        async (n, d, pool, weights, dropper) => {
          const { session, identities } = makeRoster(n, { vectorLength: d, degree: n - 1, clip: 2, maxWeight: 9 });
          const updates = new Map(session.ids.map((id, u) => [id, Float32Array.from({ length: d }, (_, i) => pool[(u * d + i) % pool.length]!)]));
          const weightOf = new Map(session.ids.map((id, u) => [id, weights[u]!]));
          const dropped = session.ids[dropper % n]!;
          const report = await runInProcessRound({
            session,
            identities,
            input: (id) => ({ update: updates.get(id)!, weight: weightOf.get(id)! }),
            dropouts: { 'masked-input': [dropped] },
          });
          expect(report.outcome.type).toBe('done');
          if (report.outcome.type !== 'done') return;
          const out = dequantiseSum(report.outcome.result.sum, session.quantisation);
          const survivors = session.ids.filter((id) => id !== dropped);
          expect(out.totalWeight).toBe(survivors.reduce((s, id) => s + weightOf.get(id)!, 0));
          const bound = n / quantisationScale(session.quantisation) + 1e-5 * (1 + out.totalWeight);
          for (let i = 0; i < d; i++) {
            const exact = survivors.reduce((s, id) => s + weightOf.get(id)! * Math.max(-2, Math.min(2, updates.get(id)![i]!)), 0);
            expect(Math.abs(out.weightedSum[i]! - exact)).toBeLessThan(bound);
          }
          expect(levelsPerParticipant(32, n) * n).toBeLessThan(2 ** 32);
        },
      ),
      { numRuns: 15 },
    );
  });

  it('handles a sparse graph well below n − 1 neighbours (SecAgg+ regime)', async () => {
    const { session, identities } = makeRoster(40, { vectorLength: 30, degree: 10 });
    expect(session.degree).toBe(10);
    const inputs = new Map(session.ids.map((id, u) => [id, Uint32Array.from({ length: 31 }, (_, i) => (u * 7919 + i * 104729) >>> 0)]));
    const report = await runInProcessRound({
      session,
      identities,
      input: (id) => inputs.get(id)!,
      dropouts: { 'share-keys': ['p003'], 'masked-input': ['p011', 'p027'], unmasking: ['p030'] },
    });
    expect(report.outcome.type).toBe('done');
    if (report.outcome.type !== 'done') return;
    expect(report.outcome.result.droppedAfterSharing).toEqual(['p011', 'p027']);
    const survivors = report.outcome.result.survivors;
    expect(survivors).toHaveLength(37);
    expect(report.outcome.result.sum).toEqual(modularSum(survivors.map((id) => inputs.get(id)!), 31));
    // SecAgg+ sends each participant only its neighbours' material: far below n − 1 entries.
    expect(Math.max(...report.bytesReceived.values())).toBeLessThan(10 * 400 + 2000);
  });
});
