/**
 * The secureAggregation config section: schema errors name the field and the fix; the server
 * feature refuses combinations that cannot work before any training; session shapes and the
 * participants' policy follow from the config alone.
 */
import { describe, expect, it } from 'vitest';
import { parseSimulationConfig, type SimulationConfigInput } from '../../src/config/simulation.js';
import type { FederationData } from '../../src/federation/simulation-setup.js';
import type { LocalModel } from '../../src/model/local-model.js';
import { secureAggregationServerFeature } from '../../src/secure/server-feature.js';
import { distributedNoisePlan, participantPolicyFor, secureAggregationConfigSchema, sessionShape } from '../../src/secure/simulation-config.js';

function feature(input: SimulationConfigInput, partitionSize = 800) {
  const config = parseSimulationConfig(input);
  const ids = Array.from({ length: config.participants }, (_, i) => `p${String(i + 1).padStart(String(config.participants).length, '0')}`);
  const data = { participantIds: ids, partitions: ids.map(() => Array.from({ length: partitionSize }, (_, i) => i)) } as unknown as FederationData;
  return secureAggregationServerFeature({ config, data, model: {} as LocalModel });
}

const dp = { mode: 'client', noiseMultiplier: 1, clipNorm: 0.5, delta: 1e-5 } as const;

describe('secureAggregation config', () => {
  it('names the field and the fix for invalid values', () => {
    expect(() => parseSimulationConfig({ secureAggregation: { modulusBits: 40 } })).toThrow(/secureAggregation\.modulusBits: modulusBits must be in \[8, 32\]/);
    expect(() => parseSimulationConfig({ secureAggregation: { bucketSize: 2 } })).toThrow(/secureAggregation\.bucketSize: bucketSize must be ≥ 3: each bucket is its own SecAgg session/);
    expect(() => parseSimulationConfig({ secureAggregation: { degree: 6, threshold: 3 } })).toThrow(/secureAggregation\.threshold: threshold 3 must exceed degree\/2 = 3 .* use threshold ≥ 4/);
    expect(() => parseSimulationConfig({ secureAggregation: { clip: -1 } })).toThrow(/secureAggregation\.clip: clip must be a positive number/);
    expect(() => parseSimulationConfig({ secureAggregation: { simulateDropouts: { rate: 0.1, participants: ['p01'] } } })).toThrow(/simulateDropouts: give exactly one of rate or participants/);
    expect(() => parseSimulationConfig({ secureAggregation: { simulateDropouts: { rate: 0.1, stage: 'unmask' } } })).toThrow(/stage must be one of train, advertise-keys, share-keys, masked-input, consistency-check, unmasking/);
    expect(() => parseSimulationConfig({ secureAggregation: { bucket: 3 } })).toThrow(/secureAggregation: Unrecognized key/);
    expect(parseSimulationConfig({ secureAggregation: {} }).secureAggregation).toEqual({ modulusBits: 32, distributedNoise: false });
  });

  it('refuses an aggregator that needs individual updates unless buckets are configured, and too few buckets for its f', () => {
    expect(() => feature({ aggregation: { name: 'median' }, secureAggregation: {} })).toThrow(/aggregation 'median' needs individual updates.* set secureAggregation\.bucketSize, e\.g\. 3 \(3 buckets of the 10 participants per round\)/);
    expect(() => feature({ aggregation: { name: 'krum' }, byzantine: 1, secureAggregation: { bucketSize: 3 } })).toThrow(/10 participants per round in buckets of ≥ 3 give 3 bucket\(s\), but krum with byzantine 1 needs .* — sample at least/);
    expect(() => feature({ participants: 20, aggregation: { name: 'krum' }, byzantine: 1, secureAggregation: { bucketSize: 5 } })).toThrow(/use secureAggregation\.bucketSize ≤ 4/);
    expect(() => feature({ aggregation: { name: 'bucketing', bucketSize: 2, inner: { name: 'median' } }, secureAggregation: { bucketSize: 3 } })).toThrow(/secureAggregation\.bucketSize already buckets/);
    expect(feature({ aggregation: { name: 'median' }, secureAggregation: { bucketSize: 3 } })?.name).toBe('secureAggregation');
  });

  it('refuses adaptive clipping, distributed noise without client DP, unknown dropout ids and weights that do not fit', () => {
    expect(() => feature({ privacy: { ...dp, adaptiveClipping: {} }, secureAggregation: {} })).toThrow(/adaptive clipping needs each participant's bit .*remove privacy\.adaptiveClipping/);
    expect(() => feature({ secureAggregation: { distributedNoise: true } })).toThrow(/distributedNoise splits client-level DP noise .* privacy\.mode is not client/);
    expect(() => feature({ secureAggregation: { simulateDropouts: { participants: ['p99'] } } })).toThrow(/unknown participants: p99 — ids run from p01 to p10/);
    const small = feature({ secureAggregation: { modulusBits: 12 } }, 800)!;
    expect(() => small.configure!({ weighting: 'samples' } as never)).toThrow(/holds 800 samples, more than the 409 levels a 12-bit sum of 10 participants .* set secureAggregation\.maxWeight ≤ 409/);
    expect(() => small.configure!({ weighting: 'uniform' } as never)).not.toThrow();
    expect(() => feature({ participants: 2, secureAggregation: {} })).toThrow(/needs at least 3 participants, got 2/);
    expect(() => feature({ attack: { malicious: { count: 2 }, omniscient: true, attack: { name: 'alie' } }, secureAggregation: {} })).toThrow(/attack "alie" rewrites individual updates .* omniscient: false, which run on the participant/);
    expect(feature({ attack: { malicious: { count: 2 }, attack: { name: 'sign-flip' } }, secureAggregation: {} })?.name).toBe('secureAggregation');
  });

  it('derives session shapes: k capped at n − 1 and even n·k, t a strict majority, minSurvivors floor', () => {
    const cfg = secureAggregationConfigSchema.parse({});
    expect(sessionShape(cfg, 10)).toEqual({ degree: 8, threshold: 5, minSurvivors: 6 });
    expect(sessionShape(cfg, 3)).toEqual({ degree: 2, threshold: 2, minSurvivors: 3 });
    expect(sessionShape(secureAggregationConfigSchema.parse({ degree: 5 }), 7)).toEqual({ degree: 4, threshold: 3, minSurvivors: 4 });
    expect(sessionShape(cfg, 10, 8)).toMatchObject({ minSurvivors: 8 });
    expect(sessionShape(cfg, 5, 6)).toEqual({ problem: expect.stringMatching(/cannot reach minSurvivors = 6/) });
    expect(sessionShape(secureAggregationConfigSchema.parse({ threshold: 5 }), 5)).toEqual({ problem: expect.stringMatching(/threshold 5 exceeds the 4 neighbours/) });
    // Dropout simulation raises the default degree so the planned rate rarely aborts.
    expect(sessionShape(secureAggregationConfigSchema.parse({ simulateDropouts: { rate: 0.3 } }), 40)).toMatchObject({ degree: expect.any(Number) });
    const sparse = sessionShape(cfg, 40) as { degree: number };
    const robust = sessionShape(secureAggregationConfigSchema.parse({ simulateDropouts: { rate: 0.3 } }), 40) as { degree: number };
    expect(robust.degree).toBeGreaterThan(sparse.degree);
  });

  it('gives participants the policy they check sessions against; distributed noise splits z·C over k_min', () => {
    const plain = parseSimulationConfig({ secureAggregation: {} });
    expect(participantPolicyFor(plain)).toEqual({ modulusBits: 32, clip: 8, minSurvivors: 3 });
    const central = parseSimulationConfig({ privacy: dp, secureAggregation: {} });
    expect(participantPolicyFor(central)).toEqual({ modulusBits: 32, clip: 0.5, minSurvivors: 3 });
    const distributed = parseSimulationConfig({ privacy: dp, secureAggregation: { distributedNoise: true, minSurvivors: 8 } });
    const plan = distributedNoisePlan(distributed)!;
    expect(plan).toMatchObject({ sumStd: 0.5, minSurvivors: 8, expectedParticipants: 10 });
    expect(plan.shareStd).toBeCloseTo(0.5 / Math.sqrt(8), 12);
    expect(participantPolicyFor(distributed)).toEqual({ modulusBits: 32, clip: 0.5 + 7 * plan.shareStd, minSurvivors: 8, noiseStd: plan.shareStd });
  });
});
