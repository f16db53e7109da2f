import { describe, expect, it } from 'vitest';
import type { Aggregator } from '../../src/aggregation/types.js';
import { weightedMean } from '../../src/core/vector.js';
import type { EngineOptions, RoundGuard, RoundRecord } from '../../src/federation/engine.js';
import { RoundEngine, sampleParticipants } from '../../src/federation/engine.js';
import type { ParticipantHandler, ProtocolMap, RequestKind, TrainRequest } from '../../src/federation/protocol.js';
import { InProcessTransport } from '../../src/transport/in-process.js';
import { SeededRng } from '../../src/core/rng.js';

/** Weighted mean, as FedAvg; written here so the engine is tested without the registry. */
const meanAggregator: Aggregator = {
  name: 'test-mean',
  aggregate(cs) {
    const total = cs.reduce((s, c) => s + c.weight, 0);
    return { aggregate: weightedMean(cs.map((c) => c.update), cs.map((c) => c.weight)), diagnostics: cs.map((c) => ({ id: c.id, accepted: true, weight: c.weight / total })) };
  },
};

/** A participant that returns a fixed delta (or misbehaves on request). */
function fake(id: string, delta: number[], samples: number, behaviour: 'ok' | 'nan' | 'short' | 'throw' | 'hang' = 'ok'): ParticipantHandler {
  return {
    id,
    async handle<K extends RequestKind>(_kind: K, request: ProtocolMap[K]['request']): Promise<ProtocolMap[K]['reply']> {
      const req = request as TrainRequest;
      if (behaviour === 'throw') throw new Error('disk on fire');
      if (behaviour === 'hang') await new Promise((r) => setTimeout(r, 200));
      const d = behaviour === 'nan' ? [NaN, ...delta.slice(1)] : behaviour === 'short' ? delta.slice(1) : delta;
      return { participantId: id, round: req.round, delta: Float32Array.from(d), numSamples: samples, metrics: { loss: 1, trainMs: 1 } } as ProtocolMap[K]['reply'];
    },
  };
}

function options(handlers: ParticipantHandler[], extra: Partial<EngineOptions> = {}): EngineOptions {
  return {
    transport: new InProcessTransport(handlers),
    initialParams: new Float32Array([0, 0]),
    rounds: 1,
    sampling: { kind: 'all' },
    training: { epochs: 1, batchSize: 1, learningRate: 0.1, optimizer: 'sgd' },
    aggregator: meanAggregator,
    byzantine: 0,
    serverLearningRate: 1,
    minParticipants: 1,
    timeoutMs: 1000,
    seed: 1,
    evaluate: (p) => ({ loss: -p[0]!, accuracy: p[0]!, perClassAccuracy: [] }),
    ...extra,
  };
}

describe('round engine', () => {
  it('applies FedAvg weighted by sample counts, scaled by the server learning rate', async () => {
    const result = await new RoundEngine(options([fake('a', [1, 0], 100), fake('b', [0, 1], 300)], { serverLearningRate: 0.5 })).run();
    expect(Array.from(result.finalParams)).toEqual([0.125, 0.375]);
    expect(result.rounds[0]!.diagnostics.map((d) => d.weight)).toEqual([0.25, 0.75]);
  });

  it('uniform weighting ignores sample counts', async () => {
    const result = await new RoundEngine(options([fake('a', [1, 0], 100), fake('b', [0, 1], 300)], { weighting: 'uniform' })).run();
    expect(Array.from(result.finalParams)).toEqual([0.5, 0.5]);
  });

  it('drops NaN, wrongly shaped, failing and late updates with the reason, and keeps going', async () => {
    const handlers = [fake('ok', [1, 1], 10), fake('nan', [1, 1], 10, 'nan'), fake('short', [1, 1], 10, 'short'), fake('err', [1, 1], 10, 'throw'), fake('slow', [1, 1], 10, 'hang')];
    const result = await new RoundEngine(options(handlers, { timeoutMs: 50 })).run();
    const byId = new Map(result.rounds[0]!.participants.map((p) => [p.id, p]));
    expect(byId.get('ok')!.ok).toBe(true);
    expect(byId.get('nan')!.error).toMatch(/non-finite value at index 0/);
    expect(byId.get('short')!.error).toMatch(/has 1 values, the model has 2/);
    expect(byId.get('err')!.error).toMatch(/disk on fire/);
    expect(byId.get('slow')!.error).toMatch(/deadline exceeded/);
    expect(Array.from(result.finalParams)).toEqual([1, 1]);
  });

  it('skips a round below minParticipants and keeps the model', async () => {
    const result = await new RoundEngine(options([fake('a', [1, 1], 10), fake('b', [1, 1], 10, 'throw')], { minParticipants: 2 })).run();
    expect(result.rounds[0]!.skipped).toMatch(/only 1 usable update/);
    expect(Array.from(result.finalParams)).toEqual([0, 0]);
  });

  it('stops cleanly when a guard says so, keeping the last model', async () => {
    const guard: RoundGuard = { name: 'budget', beforeRound: (r) => (r >= 3 ? { stop: true, reason: `round ${r} would exceed it` } : { stop: false }) };
    const result = await new RoundEngine(options([fake('a', [1, 0], 10)], { rounds: 10, guards: [guard] })).run();
    expect(result.rounds).toHaveLength(2);
    expect(result.stopped).toEqual({ round: 3, reason: 'budget: round 3 would exceed it' });
    expect(Array.from(result.finalParams)).toEqual([2, 0]);
  });

  it('a gate that rejects keeps the promoted model (and can continue from it)', async () => {
    const gate = { decide: (c: { round: number }) => ({ promote: c.round !== 2, reasons: c.round === 2 ? ['accuracy dropped'] : [] }) };
    const seen: RoundRecord[] = [];
    const result = await new RoundEngine(options([fake('a', [1, 0], 10)], { rounds: 2, gate, continueFrom: 'promoted', observers: [{ onRoundEnd: (r) => seen.push(r) }] })).run();
    expect(seen.map((r) => r.promoted)).toEqual([true, false]);
    expect(result.finalRound).toBe(1);
    expect(Array.from(result.finalParams)).toEqual([1, 0]);
  });

  it('samples participants reproducibly', () => {
    const ids = Array.from({ length: 100 }, (_, i) => `p${i}`);
    const a = sampleParticipants(ids, { kind: 'poisson', rate: 0.3 }, SeededRng.from(1, 'r1'));
    expect(a).toEqual(sampleParticipants(ids, { kind: 'poisson', rate: 0.3 }, SeededRng.from(1, 'r1')));
    expect(a.length).toBeGreaterThan(15);
    expect(a.length).toBeLessThan(45);
    expect(sampleParticipants(ids, { kind: 'fixed', perRound: 7 }, SeededRng.from(2))).toHaveLength(7);
    expect(() => sampleParticipants(ids, { kind: 'fixed', perRound: 101 }, SeededRng.from(2))).toThrow(/only 100 participants/);
  });
});
