import { describe, expect, it } from 'vitest';
import { newSessionId } from '../../src/secure/config.js';
import { bucketContributions, planBuckets, runBucketedRound } from '../../src/secure/buckets.js';
import { quantisationScale } from '../../src/secure/quantise.js';
import { createSession } from '../../src/secure/config.js';
import { makeRoster } from './helpers.js';

describe('bucketed secure aggregation', () => {
  it('partitions participants into ⌊n/s⌋ buckets of size s..2s−1 from public randomness', () => {
    const { config } = makeRoster(23, { vectorLength: 3 });
    const plans = planBuckets(config, 5);
    expect(plans).toHaveLength(4);
    const all = plans.flatMap((p) => p.members);
    expect(all.sort()).toEqual(config.participants.map((p) => p.id).sort());
    for (const p of plans) {
      expect(p.members.length).toBeGreaterThanOrEqual(5);
      expect(p.members.length).toBeLessThan(10);
      expect(p.config.participants.map((m) => m.id).sort()).toEqual(p.members);
    }
    // Distinct per-bucket session ids, reproducible by anyone from the parent session.
    expect(new Set(plans.map((p) => Buffer.from(p.config.sessionId).toString('hex'))).size).toBe(4);
    expect(planBuckets({ ...config, participants: [...config.participants].reverse() }, 5)).toEqual(plans);
    const other = planBuckets({ ...config, sessionId: newSessionId() }, 5);
    expect(other.map((p) => p.members)).not.toEqual(plans.map((p) => p.members));
    expect(() => planBuckets(config, 24)).toThrow(/cannot fill one bucket of 24/);
    expect(() => planBuckets(config, 2)).toThrow(/bucket size must be an integer ≥ 3/);
  });

  it('reveals only per-bucket Σw·x and Σw, each matching its members, and feeds robust aggregators', async () => {
    const { config, identities } = makeRoster(13, { vectorLength: 4, clip: 1, maxWeight: 10 });
    const update = (id: string) => Float32Array.from({ length: 4 }, (_, i) => ((id.charCodeAt(3) * (i + 1)) % 7) / 10 - 0.3);
    const weight = (id: string) => (id.charCodeAt(3) % 10) + 1;
    const plans = planBuckets(config, 4);
    const outcomes = await runBucketedRound(plans, {
      identities,
      input: (id) => ({ update: update(id), weight: weight(id) }),
      dropouts: { unmasking: [plans[0]!.members[0]!] }, // a late dropout still completes its bucket
    });
    expect(outcomes).toHaveLength(3);
    for (const o of outcomes) {
      expect(o.type).toBe('done');
      if (o.type !== 'done') continue;
      expect(o.survivors).toEqual(o.members);
      const session = createSession(plans[o.bucket]!.config);
      const bound = o.members.length / quantisationScale(session.quantisation) + 1e-5;
      expect(o.totalWeight).toBe(o.members.reduce((s, id) => s + weight(id), 0));
      for (let i = 0; i < 4; i++) {
        const exact = o.members.reduce((s, id) => s + weight(id) * update(id)[i]!, 0);
        expect(Math.abs(o.weightedSum[i]! - exact)).toBeLessThan(bound);
        expect(o.mean[i]).toBeCloseTo(exact / o.totalWeight, 5);
      }
    }
    const contributions = bucketContributions(outcomes);
    expect(contributions.map((c) => c.id)).toEqual(['bucket-0', 'bucket-1', 'bucket-2']);
    expect(contributions[1]!.members).toEqual(plans[1]!.members);
  });

  it('an aborted bucket reveals nothing and is left out of the contributions', async () => {
    const { config, identities } = makeRoster(8, { vectorLength: 2 });
    const plans = planBuckets(config, 4, { degree: (size) => size - 1 });
    const victim = plans[1]!.members;
    const outcomes = await runBucketedRound(plans, {
      identities,
      input: () => ({ update: Float32Array.from([0.5, -0.5]), weight: 1 }),
      dropouts: { 'masked-input': victim.slice(0, 2) },
    });
    expect(outcomes.map((o) => o.type)).toEqual(['done', 'aborted']);
    expect(outcomes[1]).not.toHaveProperty('sum');
    expect(bucketContributions(outcomes).map((c) => c.id)).toEqual(['bucket-0']);
  });
});
