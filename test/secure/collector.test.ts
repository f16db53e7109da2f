/**
 * The SecAgg collector in the round engine, with stub participants (fixed updates, no model):
 * exactness within the quantisation bound, dropouts, aborts, buckets, weight checks, the
 * participant driver's refusals, DP composition, and the coordinator's view of the traffic.
 */
import { describe, expect, it } from 'vitest';
import { createAggregator } from '../../src/aggregation/registry.js';
import { SeededRng } from '../../src/core/rng.js';
import type { EngineOptions, RunResult } from '../../src/federation/engine.js';
import { plainCollector, RoundEngine } from '../../src/federation/engine.js';
import type { ParticipantHandler } from '../../src/federation/protocol.js';
import { centralGaussianNoiseStage } from '../../src/privacy/central-noise-stage.js';
import { SecAggCollector } from '../../src/secure/collector.js';
import { newSessionId } from '../../src/secure/config.js';
import { fixedDenominatorStage } from '../../src/secure/distributed-noise.js';
import { generateIdentity } from '../../src/secure/keys.js';
import { SecAggParticipantDriver } from '../../src/secure/participant-driver.js';
import { levelsPerParticipant } from '../../src/secure/quantise.js';
import { secureAggregationConfigSchema, type SecureAggregationConfig } from '../../src/secure/simulation-config.js';
import type { SecAggSetupRequest } from '../../src/secure/transport-messages.js';
import { InProcessTransport } from '../../src/transport/in-process.js';
import { POLICY, RecordingTransport, scanForUpdates, StubParticipant, type StubBehaviour } from './collector-support.js';

const D = 64;

function update(id: string, scale = 0.1): Float32Array {
  const rng = SeededRng.from('update', id);
  return Float32Array.from({ length: D }, () => scale * rng.normal());
}

function ids(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `p${i + 1}`);
}

function secure(section: Partial<SecureAggregationConfig> & Record<string, unknown> = {}, clip = 1): SecAggCollector {
  return new SecAggCollector({ config: secureAggregationConfigSchema.parse(section), clip, seed: 7 });
}

function engine(handlers: ParticipantHandler[], extra: Partial<EngineOptions> = {}): EngineOptions {
  return {
    transport: new InProcessTransport(handlers),
    initialParams: new Float32Array(D),
    rounds: 1,
    sampling: { kind: 'all' },
    training: { epochs: 1, batchSize: 1, learningRate: 0.1, optimizer: 'sgd' },
    aggregator: createAggregator({ name: 'fedavg' }),
    byzantine: 0,
    serverLearningRate: 1,
    minParticipants: 1,
    timeoutMs: 10_000,
    seed: 1,
    evaluate: () => ({ loss: 0, accuracy: 0, perClassAccuracy: [] }),
    ...extra,
  };
}

function weightedMean(updates: readonly Float32Array[], weights: readonly number[]): Float64Array {
  const total = weights.reduce((a, b) => a + b, 0);
  const out = new Float64Array(D);
  updates.forEach((u, k) => u.forEach((v, i) => (out[i]! += (weights[k]! * v) / total)));
  return out;
}

/** README bound: per coordinate |err(Σ w·x)| < n/s with s = L/(2cW); on the mean, divided by Σw (plus float32 rounding). */
function quantisationBound(n: number, clip: number, maxWeight: number, totalWeight: number): number {
  const s = levelsPerParticipant(32, n) / (2 * clip * maxWeight);
  return n / s / totalWeight + 1e-7;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

const byId = (r: RunResult) => new Map(r.rounds[0]!.participants.map((p) => [p.id, p]));

describe('SecAgg collector in the round engine', () => {
  it('unmasks the sample-weighted FedAvg mean within the quantisation bound, and never receives an update', async () => {
    const names = ids(6);
    const samples = [120, 80, 200, 50, 150, 100];
    const updates = names.map((id) => update(id));
    const recording = new RecordingTransport(new InProcessTransport(names.map((id, k) => new StubParticipant(id, updates[k]!, samples[k]!))));
    const result = await new RoundEngine(engine([], { transport: recording, collector: secure() })).run();

    const expected = weightedMean(updates, samples);
    const diff = maxAbsDiff(result.finalParams, expected);
    expect(diff).toBeLessThan(quantisationBound(6, 1, 200, 700));
    const round = result.rounds[0]!;
    expect(round.extra).toMatchObject({ secaggSurvivors: 6, secaggDropped: 0, secaggAbortedSessions: 0 });
    expect(round.extra.secaggBytes).toBeGreaterThan(6 * 4 * (D + 1));
    expect(round.diagnostics.map((d) => d.id)).toEqual(['secure-sum']);
    expect(round.participants.every((p) => p.ok && p.numSamples !== undefined && p.updateNorm === undefined)).toBe(true);

    // The coordinator's side of the wire: secagg kinds only, no float arrays, no window of any update.
    expect(new Set(recording.kinds)).toEqual(new Set(['secagg-enrol', 'secagg-train', 'secagg-setup', 'secagg-step']));
    const scan = scanForUpdates(recording.replies, updates);
    expect(scan).toMatchObject({ floatArrays: 0, leakedUpdates: 0 });
    expect(scan.bytesScanned).toBeGreaterThan(6 * 4 * D);

    // The same scan on the plain protocol finds every update: it can fail.
    const plain = new RecordingTransport(new InProcessTransport(names.map((id, k) => new StubParticipant(id, updates[k]!, samples[k]!))));
    const plainResult = await new RoundEngine(engine([], { transport: plain, collector: plainCollector })).run();
    expect(scanForUpdates(plain.replies, updates).leakedUpdates).toBe(6);
    expect(maxAbsDiff(plainResult.finalParams, expected)).toBeLessThan(1e-6);
  });

  it('uniform weights give the plain mean of the survivors, weight = their count', async () => {
    const names = ids(5);
    const updates = names.map((id) => update(id));
    const result = await new RoundEngine(engine(names.map((id, k) => new StubParticipant(id, updates[k]!, 10 * (k + 1))), { collector: secure(), weighting: 'uniform' })).run();
    expect(maxAbsDiff(result.finalParams, weightedMean(updates, [1, 1, 1, 1, 1]))).toBeLessThan(quantisationBound(5, 1, 1, 5));
    expect(result.rounds[0]!.diagnostics).toHaveLength(1);
  });

  it('a participant failing mid-protocol drops out; the round completes with the others (before masking) or with it (after)', async () => {
    const names = ids(6);
    const updates = names.map((id) => update(id));
    const behaviours: Record<string, StubBehaviour> = { p2: { failAtStep: 2 }, p5: { failAtStep: 4 } };
    const handlers = names.map((id, k) => new StubParticipant(id, updates[k]!, 100, POLICY, behaviours[id]));
    const result = await new RoundEngine(engine(handlers, { collector: secure(), weighting: 'uniform' })).run();
    const outcome = byId(result);
    // p2 died on the share relay: it never masked, its pairwise masks were reconstructed away.
    expect(outcome.get('p2')).toMatchObject({ ok: false });
    expect(outcome.get('p2')!.error).toMatch(/dropped at masked-input \(connection reset by peer\)/);
    // p5 died at unmasking: its masked input is in the sum, its neighbours carried the reveal.
    expect(outcome.get('p5')!.ok).toBe(true);
    const survivors = [0, 2, 3, 4, 5];
    expect(maxAbsDiff(result.finalParams, weightedMean(survivors.map((k) => updates[k]!), [1, 1, 1, 1, 1]))).toBeLessThan(quantisationBound(6, 1, 1, 5));
    expect(result.rounds[0]!.extra).toMatchObject({ secaggSurvivors: 5, secaggDropped: 1, secaggAbortedSessions: 0 });
  });

  it('too many dropouts abort the session with its reason; nothing is released and the model is kept', async () => {
    const names = ids(5); // k = 4, t = 3, minSurvivors = 4
    const handlers = names.map((id, k) => new StubParticipant(id, update(id), 100, POLICY, k < 2 ? { failAtStep: 2 } : {}));
    const result = await new RoundEngine(engine(handlers, { collector: secure() })).run();
    const round = result.rounds[0]!;
    expect(round.skipped).toMatch(/only 0 usable update/);
    expect(Array.from(result.finalParams).every((v) => v === 0)).toBe(true);
    expect(round.extra).toMatchObject({ secaggSurvivors: 0, secaggAbortedSessions: 1 });
    const outcome = byId(result);
    expect(outcome.get('p3')!.error).toMatch(/the session: secure aggregation aborted at masked-input: only 3 masked inputs arrived, fewer than minSurvivors=4; no aggregate was released/);
    expect(outcome.get('p1')!.error).toMatch(/^secure aggregation: dropped at masked-input .*aborted/);
  });

  it('when the sampled participants cannot form a session, nobody trains and the round is skipped', async () => {
    const names = ids(6);
    const kinds: string[] = [];
    const handlers = names.map((id) => {
      const stub = new StubParticipant(id, update(id), 100);
      const handle = stub.handle.bind(stub);
      stub.handle = async (kind, request) => {
        kinds.push(kind);
        return handle(kind, request);
      };
      return stub;
    });
    const collector = new SecAggCollector({ config: secureAggregationConfigSchema.parse({}), clip: 1, seed: 1, minSurvivorsFloor: 7 });
    const result = await new RoundEngine(engine(handlers, { collector })).run();
    expect(kinds).toEqual([]);
    expect(result.rounds[0]!.skipped).toMatch(/only 0 usable update/);
    expect(byId(result).get('p1')!.error).toMatch(/secure aggregation not run: a session of 6 participants cannot reach minSurvivors = 7/);
  });

  it('with buckets, the robust aggregator runs over bucket means and an aborted bucket is left out', async () => {
    const names = ids(9);
    const updates = names.map((id) => update(id));
    // Everyone who shares a bucket with p1 fails before masking: that bucket cannot release a sum.
    const poisonP1 = { failAtStep: 2, failIf: (roster: readonly string[]) => roster.includes('p1') };
    const handlers = names.map((id, k) => new StubParticipant(id, updates[k]!, 100, POLICY, id === 'p1' ? {} : poisonP1));
    const result = await new RoundEngine(engine(handlers, { collector: secure({ bucketSize: 3 }), aggregator: createAggregator({ name: 'median' }), weighting: 'uniform' })).run();
    const round = result.rounds[0]!;
    expect(round.extra).toMatchObject({ secaggAbortedSessions: 1, secaggSurvivors: 6 });
    expect(round.diagnostics).toHaveLength(2);
    expect(round.diagnostics.every((d) => /^bucket-\d$/.test(d.id))).toBe(true);
    expect(byId(result).get('p1')!.error).toMatch(/bucket \d: secure aggregation aborted/);
    const okIds = round.participants.filter((p) => p.ok).map((p) => p.id);
    expect(okIds).toHaveLength(6);
    expect(okIds).not.toContain('p1');
    // The median of two bucket means is their average, i.e. (equal buckets) the survivors' mean.
    const kept = okIds.map((id) => updates[names.indexOf(id)]!);
    expect(maxAbsDiff(result.finalParams, weightedMean(kept, kept.map(() => 1)))).toBeLessThan(quantisationBound(3, 1, 1, 3));
  });

  it('bucket assignment is reproducible from the seed and covers everyone once', async () => {
    const names = ids(10);
    const run = async () => {
      const seen: string[][] = [];
      const handlers = names.map((id) => {
        const stub = new StubParticipant(id, update(id), 100);
        const handle = stub.handle.bind(stub);
        stub.handle = async (kind, request) => {
          if (kind === 'secagg-setup') seen.push((request as SecAggSetupRequest).participants.map((p) => p.id));
          return handle(kind, request);
        };
        return stub;
      });
      await new RoundEngine(engine(handlers, { collector: secure({ bucketSize: 3 }), aggregator: createAggregator({ name: 'median' }) })).run();
      return [...new Set(seen.map((s) => s.join(',')))].sort();
    };
    const a = await run();
    expect(a).toHaveLength(3);
    expect(a.flatMap((s) => s.split(',')).sort()).toEqual([...names].sort());
    expect(await run()).toEqual(a);
  });

  it('a participant that masks a different weight than assigned spoils only its own session', async () => {
    const names = ids(4);
    const handlers = names.map((id, k) => new StubParticipant(id, update(id), 100, POLICY, k === 0 ? { reportSamples: 50, maskWeight: 60 } : {}));
    const result = await new RoundEngine(engine(handlers, { collector: secure() })).run();
    expect(result.rounds[0]!.skipped).toBeDefined();
    expect(byId(result).get('p2')!.error).toMatch(/weight word is 360 but the survivors' assigned weights total 350/);
  });

  it('client-level DP: the central noise stage sees the survivors as contributors (Σ/m, not mean/m)', async () => {
    const names = ids(4);
    const updates = names.map((id) => update(id));
    const noise = centralGaussianNoiseStage({ noiseMultiplier: 1e-9, clipNorm: 1, expectedParticipants: 8 });
    const result = await new RoundEngine(engine(names.map((id, k) => new StubParticipant(id, updates[k]!, 100)), { collector: secure(), weighting: 'uniform', serverChain: noise })).run();
    const mean = weightedMean(updates, [1, 1, 1, 1]);
    expect(maxAbsDiff(result.finalParams, mean.map((v) => (v * 4) / 8))).toBeLessThan(1e-6);
  });

  it('distributed noise: the unmasked sum carries σ²·|S|/k_min per coordinate; the coordinator adds none', async () => {
    const names = ids(6);
    const sigma = 2;
    const kMin = 4;
    const d = 20_000;
    const policy = { ...POLICY, clip: 20, minSurvivors: kMin, noiseStd: sigma / Math.sqrt(kMin) };
    const handlers = names.map((id) => new StubParticipant(id, new Float32Array(d), 100, policy));
    const collector = new SecAggCollector({ config: secureAggregationConfigSchema.parse({}), clip: 20, seed: 3, minSurvivorsFloor: kMin });
    const result = await new RoundEngine(engine(handlers, { initialParams: new Float32Array(d), collector, weighting: 'uniform', serverChain: fixedDenominatorStage(6) })).run();
    // Applied = Σ/m with m = 6 = |S|: std per coordinate σ·√(|S|/k_min)/m.
    const v = result.finalParams;
    const mean = v.reduce((a, b) => a + b, 0) / d;
    const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (d - 1));
    const expected = (sigma * Math.sqrt(6 / kMin)) / 6;
    expect(Math.abs(mean)).toBeLessThan((4 * expected) / Math.sqrt(d));
    // Sample std of 20,000 normals: relative standard error 0.5%; 3% is > 5 standard errors.
    expect(Math.abs(std / expected - 1)).toBeLessThan(0.03);
  });
});

describe('SecAgg participant driver refuses what would weaken it', () => {
  const request = { round: 3, params: new Float32Array(D), training: { epochs: 1, batchSize: 1, learningRate: 0.1, optimizer: 'sgd' as const }, seed: 's' };

  async function enrolled(names: string[], policy = POLICY) {
    const drivers = names.map((id) => new SecAggParticipantDriver(id, policy, async (req) => ({ participantId: id, round: req.round, delta: update(id), numSamples: 10, metrics: { loss: 0, trainMs: 0 } })));
    const keys = await Promise.all(drivers.map((d) => d.handle({ kind: 'secagg-enrol', request: { protocol: 'secagg+' } })));
    await Promise.all(drivers.map((d) => d.handle({ kind: 'secagg-train', request })));
    const participants = keys.map((k) => ({ id: (k as { participantId: string }).participantId, identityPublicKey: (k as { identityPublicKey: Uint8Array }).identityPublicKey }));
    const setup = { round: 3, bucket: 0, sessionId: newSessionId(), participants, vectorLength: D, degree: 2, threshold: 2, modulusBits: 32, clip: 1, maxWeight: 1, minSurvivors: 3, weight: 1 };
    return { drivers, setup };
  }

  it('joins one session per round only (a second sum over the same update could be differenced)', async () => {
    const { drivers, setup } = await enrolled(ids(3));
    await drivers[0]!.handle({ kind: 'secagg-setup', request: setup });
    await expect(drivers[0]!.handle({ kind: 'secagg-setup', request: { ...setup, sessionId: newSessionId() } })).rejects.toThrow(/already joined a session for round 3/);
  });

  it('refuses sessions with another modulus, quantisation range, too few survivors, or without its own key', async () => {
    const { drivers, setup } = await enrolled(ids(3), { ...POLICY, minSurvivors: 3 });
    const d = drivers[1]!;
    await expect(d.handle({ kind: 'secagg-setup', request: { ...setup, modulusBits: 16 } })).rejects.toThrow(/16 modulus bits, this participant's policy is 32/);
    await expect(d.handle({ kind: 'secagg-setup', request: { ...setup, clip: 100 } })).rejects.toThrow(/quantises to \[−100, 100\]/);
    await expect(d.handle({ kind: 'secagg-setup', request: { ...setup, minSurvivors: 2 } })).rejects.toThrow(/as few as 2 participants; this participant requires at least 3/);
    const impostor = setup.participants.map((p, i) => (i === 1 ? { ...p, identityPublicKey: generateIdentity().publicKey } : p));
    await expect(d.handle({ kind: 'secagg-setup', request: { ...setup, participants: impostor } })).rejects.toThrow(/does not match its public key/);
    await expect(d.handle({ kind: 'secagg-setup', request: { ...setup, vectorLength: D + 1 } })).rejects.toThrow(/length 65, this participant's update has 64/);
    await expect(d.handle({ kind: 'secagg-setup', request: { ...setup, round: 4 } })).rejects.toThrow(/no trained update for round 4/);
    // None of those refusals used up the round: a proper session still works.
    await expect(d.handle({ kind: 'secagg-setup', request: setup })).resolves.toMatchObject({ participantId: 'p2', round: 3 });
  });

  it('rejects malformed requests, replays of a trained round, and steps without a session', async () => {
    const { drivers } = await enrolled(ids(3));
    const d = drivers[2]!;
    await expect(d.handle({ kind: 'secagg-train', request })).rejects.toThrow(/already trained round 3/);
    await expect(d.handle({ kind: 'secagg-train', request: { ...request, round: 2 } })).rejects.toThrow(/round 2 after round 3/);
    await expect(d.handle({ kind: 'secagg-step', request: { round: 3, message: new Uint8Array(10) } })).rejects.toThrow(/no secure-aggregation session for round 3/);
    await expect(d.handle({ kind: 'secagg-setup', request: { round: 3 } as never })).rejects.toThrow(/malformed secagg-setup request: .*sessionId/);
    await expect(d.handle({ kind: 'secagg-enrol', request: { protocol: 'other' } as never })).rejects.toThrow(/malformed secagg-enrol request/);
  });
});
