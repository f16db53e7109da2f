import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FedsecError } from '../../src/core/errors.js';
import { parseSimulationConfig, readConfigFile, type SimulationConfigInput } from '../../src/config/simulation.js';
import { runSimulation } from '../../src/federation/simulation.js';
import { loadMnist } from '../../src/data/mnist.js';
import { LocalModel } from '../../src/model/local-model.js';
import { computeRdp, DEFAULT_ORDERS, epsilonFromRdp } from '../../src/privacy/rdp-accountant.js';
import { clientSamplingRate } from '../../src/privacy/server-feature.js';
import { renderSimulationReport, resultsJson } from '../../src/report/simulation-report.js';

// Tiny but real: MNIST, logistic regression (7,850 parameters), 6 participants, main thread.
const tiny: SimulationConfigInput = {
  participants: 6,
  rounds: 6,
  model: { kind: 'logreg' },
  partition: { kind: 'iid' },
  training: { epochs: 1, batchSize: 32, learningRate: 0.1, optimizer: 'sgd' },
  runtime: { backend: 'wasm', workers: 0 },
};

const epsAfter = (rounds: number, z: number, q: number, steps = 1): number =>
  epsilonFromRdp(DEFAULT_ORDERS, computeRdp({ noiseMultiplier: z, samplingRate: q, steps: rounds * steps }), 1e-5).epsilon;

async function configError(input: SimulationConfigInput): Promise<string> {
  try {
    await runSimulation(parseSimulationConfig(input));
  } catch (e) {
    expect(e).toBeInstanceOf(FedsecError);
    return (e as Error).message;
  }
  throw new Error('expected a configuration error');
}

describe('client-level DP-FedAvg in the simulation', () => {
  it('stops before the round that would exceed the ε budget, keeps the last model, and records ε per round', async () => {
    const z = 1.2;
    const q = 0.5;
    // A budget between ε after 3 and after 4 rounds: rounds 1–3 run, round 4 must not.
    const budget = (epsAfter(3, z, q) + epsAfter(4, z, q)) / 2;
    const result = await runSimulation(parseSimulationConfig({
      ...tiny,
      sampling: { kind: 'poisson', rate: q },
      privacy: { mode: 'client', delta: 1e-5, noiseMultiplier: z, epsilon: budget, clipNorm: 0.5 },
    }));
    expect(result.rounds.map((r) => r.round)).toEqual([1, 2, 3]);
    expect(result.stopped?.round).toBe(4);
    expect(result.stopped?.reason).toMatch(/^privacy budget: round 4 would raise ε to [\d.]+ > budget [\d.]+ \(δ=1e-5\); stopping with the round-3 model$/);
    expect(result.finalRound).toBe(3);
    // The kept model is the round-3 model: it evaluates exactly as round 3 did.
    const model = await LocalModel.create({ kind: 'logreg' }, [28, 28, 1], 10, 'any');
    model.setParams(result.finalParams);
    expect(model.evaluate(loadMnist().test).accuracy).toBe(result.rounds[2]!.evaluation.accuracy);
    model.dispose();
    result.rounds.forEach((r, i) => expect(r.extra.epsilon).toBeCloseTo(epsAfter(i + 1, z, q), 10));
    // Every participant's update is within the bound; replies carry no clip bit or norm into the record.
    for (const r of result.rounds) for (const p of r.participants) {
      expect(p.ok).toBe(true);
      expect(p.updateNorm!).toBeLessThanOrEqual(0.5);
      expect(Object.keys(p)).not.toContain('withinClip');
    }
    const json = JSON.parse(JSON.stringify(resultsJson(result))) as { rounds: { extra: { epsilon: number } }[]; stopped: { round: number } };
    expect(json.rounds.map((r) => r.extra.epsilon)).toHaveLength(3);
    expect(json.stopped.round).toBe(4);
    const html = renderSimulationReport(result);
    expect(html).toContain('epsilon');
    expect(html).toContain('Stopped before round 4');
  });

  it('adds central noise of std z·C/m per coordinate (m = q·N), with uniform weights', async () => {
    // z·C/m = 30·0.1/6 = 0.5 per coordinate: ‖noise‖ ≈ 0.5·√7850 ≈ 44, while the signal is ≤ C = 0.1.
    const result = await runSimulation(parseSimulationConfig({
      ...tiny,
      rounds: 2,
      sampling: { kind: 'all' },
      privacy: { mode: 'client', delta: 1e-5, noiseMultiplier: 30, clipNorm: 0.1 },
    }));
    const expected = 0.5 * Math.sqrt(7850);
    for (const r of result.rounds) {
      expect(r.aggregateNorm / expected).toBeGreaterThan(0.95);
      expect(r.aggregateNorm / expected).toBeLessThan(1.05);
      expect(r.sampled).toHaveLength(6);
    }
    // sampling 'all' is accounted with q = 1.
    expect(result.rounds[1]!.extra.epsilon).toBeCloseTo(epsAfter(2, 30, 1), 10);
  });

  it('adaptive clipping: participants clip to the bound the coordinator sends, which tracks the norm quantile', async () => {
    const result = await runSimulation(parseSimulationConfig({
      ...tiny,
      rounds: 4,
      sampling: { kind: 'all' },
      runtime: { backend: 'wasm', workers: 2 }, // the bound crosses the worker-thread boundary
      privacy: { mode: 'client', delta: 1e-5, noiseMultiplier: 0.8, clipNorm: 100, adaptiveClipping: { targetQuantile: 0.5, learningRate: 0.5, countNoiseStd: 0.5 } },
    }));
    const clip = result.rounds.map((r) => r.extra.clipNorm!);
    expect(clip[0]).toBe(100);
    // Every update is far below 100: each round the bound shrinks by about exp(−η(1 − γ)) = e^−0.25.
    for (let t = 1; t < clip.length; t++) {
      expect(clip[t]!).toBeLessThan(clip[t - 1]!);
      expect(clip[t]! / clip[t - 1]!).toBeGreaterThan(Math.exp(-0.25 - 0.5));
    }
  });

  it('refuses configurations it cannot account for, saying what to change', async () => {
    const dp = { mode: 'client', delta: 1e-5, noiseMultiplier: 1, clipNorm: 1 } as const;
    expect(await configError({ ...tiny, sampling: { kind: 'fixed', perRound: 3 }, privacy: dp })).toMatch(
      /client-level DP needs Poisson sampling.*use sampling: \{ kind: poisson, rate: 0\.5 \}/s,
    );
    expect(await configError({ ...tiny, sampling: { kind: 'poisson', rate: 0.5 }, aggregation: { name: 'median' }, privacy: dp })).toMatch(
      /aggregator 'median' has a different sensitivity.*use aggregation: \{ name: fedavg \}/s,
    );
    expect(await configError({ ...tiny, sampling: { kind: 'poisson', rate: 0.5 }, privacy: { ...dp, samplingRate: 0.2 } })).toMatch(
      /privacy\.samplingRate is 0\.2 but the sampling section gives q = 0\.5/,
    );
    expect(() => parseSimulationConfig({ ...tiny, privacy: { ...dp, participantEpsilon: { p1: 1 } } })).toThrow(/participantEpsilon applies to sample-level DP/);
    expect(() => parseSimulationConfig({ ...tiny, privacy: { mode: 'client', delta: 1e-5, clipNorm: 1 } })).toThrow(
      /privacy\.noiseMultiplier: give noiseMultiplier .* or epsilon/,
    );
  });

  it('the example configs in examples/privacy parse and describe an accountable run', () => {
    const dir = join(import.meta.dirname, '../../examples/privacy');
    const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
    expect(files.length).toBe(15);
    for (const f of files) {
      const config = parseSimulationConfig(readConfigFile(join(dir, f)), f);
      expect(config.name).toBe(f.replace(/\.yaml$/, ''));
      if (f.includes('nonprivate')) expect(config.privacy).toBeUndefined();
      else expect(config.privacy?.epsilon).toBe(Number(/eps(\d+)/.exec(f)![1]));
      if (config.privacy?.mode === 'client') expect(clientSamplingRate(config)).toBe(0.2);
    }
  });
});

describe('sample-level DP-SGD in the simulation', () => {
  it('participants account per round, refuse above their own ceiling, and the run stops when none can go on', async () => {
    const z = 1.5;
    // 8,000 digits over 8 participants (IID): 1,000 each, q = 50/1000, round(1/q) = 20 steps per round.
    const eps = (rounds: number): number => epsAfter(rounds, z, 0.05, 20);
    const p1Ceiling = Number(((eps(1) + eps(2)) / 2).toFixed(3));
    const ceiling = Number(((eps(2) + eps(3)) / 2).toFixed(3));
    const result = await runSimulation(parseSimulationConfig({
      ...tiny,
      participants: 8,
      rounds: 5,
      training: { epochs: 1, batchSize: 50, learningRate: 0.5, optimizer: 'sgd' },
      privacy: { mode: 'sample', delta: 1e-5, noiseMultiplier: z, clipNorm: 1, epsilon: ceiling, participantEpsilon: { p1: p1Ceiling } },
    }));
    expect(result.partitionSizes).toEqual(Array(8).fill(1000));
    // Round 1: everyone trains. Round 2: p1 refuses (its ceiling is lower), the others train.
    expect(result.rounds[0]!.participants.map((p) => p.epsilon)).toEqual(Array(8).fill(eps(1)));
    const r2 = result.rounds[1]!.participants;
    expect(r2[0]).toMatchObject({ id: 'p1', ok: false });
    expect(r2[0]!.error).toMatch(new RegExp(`participant p1 refuses to train round 2: its ε would rise from [\\d.]+ to [\\d.]+ > its budget ${p1Ceiling} \\(δ = 1e-5\\)`));
    for (const p of r2.slice(1)) expect(p).toMatchObject({ ok: true, epsilon: eps(2) });
    // Nobody can afford round 3: the coordinator stops instead of asking.
    expect(result.stopped?.round).toBe(3);
    expect(result.stopped?.reason).toMatch(/^privacy budget: every participant's ε budget is spent \(largest ε [\d.]+, δ = 1e-5\)/);
    expect(result.finalRound).toBe(2);
    expect(result.rounds.map((r) => r.extra)).toEqual([
      { epsilon: eps(1), epsilonMin: eps(1) },
      { epsilon: eps(2), epsilonMin: eps(1) },
    ]);
    // The raw local loss is withheld under DP-SGD.
    expect(result.rounds[0]!.participants[0]!.loss).toBeNaN();
    // DP-SGD with z = 1.5 still learns.
    expect(result.rounds[1]!.evaluation.accuracy).toBeGreaterThan(0.6);
  });
});
