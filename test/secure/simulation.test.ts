/**
 * `fedsec simulate` with secureAggregation, end to end on real MNIST (logistic regression, 5
 * participants, 2 rounds): the secure run lands on the plain run's parameters within quantisation
 * error, in the main thread and in worker threads; the coordinator's transport never carries an
 * update; dropouts are survived or abort cleanly.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { parseSimulationConfig } from '../../src/config/simulation.js';
import type { TrainReply } from '../../src/federation/protocol.js';
import { serverFeatureFactories, type ServerFeatureFactory } from '../../src/federation/server-pipeline.js';
import { runSimulation } from '../../src/federation/simulation.js';
import { RecordingTransport, scanForUpdates } from './collector-support.js';

const small = {
  participants: 5,
  rounds: 2,
  model: { kind: 'logreg' },
  partition: { kind: 'iid' },
  training: { epochs: 1, batchSize: 32, learningRate: 0.1 },
};

const added: ServerFeatureFactory[] = [];

/** Record the engine's transport in the next simulations (appended last, so it wraps the final transport). */
function recordTraffic(): { get(): RecordingTransport; stop(): void } {
  let recorder: RecordingTransport | undefined;
  const factory: ServerFeatureFactory = () => ({
    name: 'record',
    configure: (options) => ({ ...options, transport: (recorder = new RecordingTransport(options.transport)) }),
  });
  serverFeatureFactories.push(factory);
  added.push(factory);
  return {
    get: () => recorder ?? expect.fail('no simulation ran'),
    stop: () => void serverFeatureFactories.splice(serverFeatureFactories.indexOf(factory), 1),
  };
}

afterEach(() => {
  for (const f of added.splice(0)) {
    const i = serverFeatureFactories.indexOf(f);
    if (i >= 0) serverFeatureFactories.splice(i, 1);
  }
});

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('fedsec simulate with secure aggregation', () => {
  it('matches the plain run within quantisation error (workers 0 and 2) and the coordinator never receives an update', async () => {
    const plainTraffic = recordTraffic();
    const plain = await runSimulation(parseSimulationConfig({ ...small, runtime: { workers: 0 } }));
    plainTraffic.stop();
    const deltas = plainTraffic.get().replies.filter((r): r is TrainReply => (r as TrainReply).round === 1 && (r as TrainReply).delta instanceof Float32Array).map((r) => r.delta);
    expect(deltas).toHaveLength(5);

    const secureTraffic = recordTraffic();
    const inThread = await runSimulation(parseSimulationConfig({ ...small, runtime: { workers: 0 }, secureAggregation: {} }));
    secureTraffic.stop();
    const inWorkers = await runSimulation(parseSimulationConfig({ ...small, runtime: { workers: 2 }, secureAggregation: {} }));

    // Per round the mean's quantisation error is < n/(s·Σw) ≈ 2·10⁻⁸ here (clip 8, 32 bits);
    // 10⁻⁵ leaves room for its propagation through round 2's training, and is far below the
    // 10⁻³ a dropped or mis-weighted update moves the parameters.
    for (const run of [inThread, inWorkers]) {
      expect(maxAbsDiff(run.finalParams, plain.finalParams)).toBeLessThan(1e-5);
      expect(run.rounds.map((r) => r.extra.secaggSurvivors)).toEqual([5, 5]);
      run.rounds.forEach((r, i) => expect(Math.abs(r.evaluation.accuracy - plain.rounds[i]!.evaluation.accuracy)).toBeLessThanOrEqual(0.001));
    }

    const recorded = secureTraffic.get();
    expect(recorded.kinds).not.toContain('train');
    const scan = scanForUpdates(recorded.replies, deltas);
    expect(scan).toMatchObject({ floatArrays: 0, leakedUpdates: 0 });
    // Five masked vectors of d + 1 words per round went through the scan.
    expect(scan.bytesScanned).toBeGreaterThan(2 * 5 * 4 * deltas[0]!.length);
    expect(scanForUpdates(plainTraffic.get().replies, deltas).leakedUpdates).toBe(5);
  });

  it('survives a participant that drops out mid-protocol, and aborts cleanly when too many do', async () => {
    const one = await runSimulation(parseSimulationConfig({ ...small, runtime: { workers: 2 }, secureAggregation: { simulateDropouts: { participants: ['p2'], stage: 'masked-input' } } }));
    for (const round of one.rounds) {
      expect(round.skipped).toBeUndefined();
      expect(round.extra).toMatchObject({ secaggSurvivors: 4, secaggDropped: 1, secaggAbortedSessions: 0 });
      expect(round.participants.find((p) => p.id === 'p2')!.error).toMatch(/dropped at masked-input \(simulated dropout/);
    }
    expect(one.rounds[1]!.evaluation.accuracy).toBeGreaterThan(0.8);

    // n = 5: k = 4, t = 3, minSurvivors = 4. Two dropouts leave 3 masked inputs.
    const two = await runSimulation(parseSimulationConfig({ ...small, rounds: 1, runtime: { workers: 0 }, secureAggregation: { simulateDropouts: { participants: ['p2', 'p4'], stage: 'masked-input' } } }));
    const round = two.rounds[0]!;
    expect(round.skipped).toMatch(/only 0 usable update/);
    expect(round.promoted).toBe(false);
    expect(two.finalRound).toBe(0);
    expect(round.participants.find((p) => p.id === 'p1')!.error).toMatch(/secure aggregation aborted at masked-input: only 3 masked inputs arrived, fewer than minSurvivors=4; no aggregate was released/);
  });
});
