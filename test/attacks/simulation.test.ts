import { describe, expect, it } from 'vitest';
import { attackClientFeature } from '../../src/attacks/client-feature.js';
import { attackPlanFor, simulatedIds } from '../../src/attacks/plan.js';
import { alie } from '../../src/attacks/alie.js';
import { AdversaryInterceptor, attackServerFeature, flaggingScores } from '../../src/attacks/server-feature.js';
import type { AttackPlan } from '../../src/attacks/plan.js';
import type { UpdateAttack } from '../../src/attacks/types.js';
import { holdOutRootSet } from '../../src/aggregation/root-reference.js';
import { parseSimulationConfig, type SimulationConfigInput } from '../../src/config/simulation.js';
import { loadFederationData, participantIds } from '../../src/federation/simulation-setup.js';
import { runSimulation, type SimulationResult } from '../../src/federation/simulation.js';
import { LocalModel } from '../../src/model/local-model.js';
import { initRuntime } from '../../src/model/backend.js';

// Tiny but real: MNIST, logistic regression, 6 participants of which 2 malicious, 3 rounds, in-thread.
const tiny: SimulationConfigInput = {
  participants: 6,
  rounds: 3,
  model: { kind: 'logreg' },
  partition: { kind: 'iid' },
  training: { epochs: 1, batchSize: 32, learningRate: 0.1 },
  byzantine: 2,
  runtime: { workers: 0 },
};
const run = (extra: Partial<SimulationConfigInput>): Promise<SimulationResult> => runSimulation(parseSimulationConfig({ ...tiny, ...extra }));
const finalAccuracy = (r: SimulationResult): number => r.rounds.at(-1)!.evaluation.accuracy;
const malicious2 = { malicious: { count: 2 } };

describe('attacks in a simulation', () => {
  it('sign flipping (on the attackers themselves) wrecks FedAvg but not the coordinate-wise median', async () => {
    const attack = { ...malicious2, attack: { name: 'sign-flip', scale: 3 } };
    const clean = await run({});
    const fedavg = await run({ attack });
    const median = await run({ attack, aggregation: { name: 'median' } });
    expect(finalAccuracy(clean)).toBeGreaterThan(0.8);
    expect(finalAccuracy(fedavg)).toBeLessThan(finalAccuracy(clean) - 0.3);
    expect(finalAccuracy(median)).toBeGreaterThan(finalAccuracy(clean) - 0.05);
    // The records say how many attackers there were and how well the median singled them out.
    expect(fedavg.rounds.map((r) => r.extra.attackers)).toEqual([2, 2, 2]);
    expect(fedavg.rounds[0]!.extra.flagRecall).toBeUndefined(); // FedAvg flags no one by design
    expect(median.rounds.every((r) => r.extra.flagRecall === 1)).toBe(true);
  });

  it('measures the backdoor success rate, which model replacement drives up under FedAvg; attackers are honest before startRound', async () => {
    const backdoor = { name: 'backdoor', targetLabel: 0 };
    const attacked = await run({ attack: { ...malicious2, attack: backdoor } });
    const asr = attacked.rounds.map((r) => r.evaluation.extra?.attackSuccessRate ?? NaN);
    expect(Math.min(...asr)).toBeGreaterThan(0.8);
    // Active from round 2: in round 1 the attackers train honestly on clean data (same model as the
    // clean run) and the trigger does nothing; from round 2 on they poison.
    const late = await run({ attack: { ...malicious2, startRound: 2, attack: backdoor } });
    const clean = await run({});
    expect(late.rounds[0]!.evaluation.accuracy).toBe(clean.rounds[0]!.evaluation.accuracy);
    expect(late.rounds[1]!.evaluation.accuracy).not.toBe(clean.rounds[1]!.evaluation.accuracy);
    const lateAsr = late.rounds.map((r) => r.evaluation.extra?.attackSuccessRate ?? NaN);
    expect(lateAsr[0]).toBeLessThan(0.15);
    expect(lateAsr[2]).toBeGreaterThan(0.8);
    expect(late.rounds.map((r) => r.extra.attackers)).toEqual([undefined, 2, 2]);
  });

  it('FLTrust trains the coordinator on a held-out root set and keeps a sign-flip attack out', async () => {
    const r = await run({ aggregation: { name: 'fltrust' }, server: { rootSamples: 100 }, attack: { ...malicious2, omniscient: true, attack: { name: 'sign-flip', scale: 3 } } });
    expect(r.rounds.every((x) => x.skipped === undefined)).toBe(true);
    expect(finalAccuracy(r)).toBeGreaterThan(0.75);
    expect(r.rounds.every((x) => x.extra.flagRecall === 1)).toBe(true);
    expect(r.partitionSizes.reduce((a, b) => a + b, 0)).toBe(8000 - 100);
  });

  it('refuses FLTrust without a root set, and unknown attacks, with what to change', async () => {
    await expect(run({ rounds: 1, aggregation: { name: 'fltrust' } })).rejects.toThrow(/set server\.rootSamples/);
    expect(() => parseSimulationConfig({ ...tiny, attack: { ...malicious2, attack: { name: 'lie' } } })).toThrow(/attack\.attack: unknown attack "lie" — use one of: .*alie/);
    expect(() => parseSimulationConfig({ ...tiny, attack: { ...malicious2, attack: { name: 'ipm', epsilon: -1 } } })).toThrow(/attack\.attack: invalid options for attack "ipm"/);
    expect(() => parseSimulationConfig({ ...tiny, attack: { malicious: { count: 2, fraction: 0.1 }, attack: { name: 'ipm' } } })).toThrow(/attack\.malicious: give exactly one of/);
  });
});

describe('attack success rate', () => {
  it('is the fraction of triggered other-class test images classified as the target', async () => {
    await initRuntime('auto');
    const config = parseSimulationConfig({ ...tiny, attack: { ...malicious2, attack: { name: 'backdoor', targetLabel: 3 } } });
    const data = loadFederationData(config);
    const model = await LocalModel.create(config.model, data.train.featureShape, data.train.numClasses, 1);
    try {
      const feature = attackServerFeature({ config, data, model })!;
      const bias = model.layout.entries.find((e) => e.shape.length === 1)!;
      // A model that answers `label` whatever the input: zero weights, one large bias.
      const constant = (label: number): Float32Array => {
        const p = new Float32Array(model.layout.size);
        p[bias.offset + label] = 10;
        model.setParams(p);
        return p;
      };
      expect(feature.evaluate!(model, constant(3))).toEqual({ attackSuccessRate: 1 });
      expect(feature.evaluate!(model, constant(5))).toEqual({ attackSuccessRate: 0 });
    } finally {
      model.dispose();
    }
  });
});

describe('where attacks run', () => {
  const plan = (attack: object, omniscient: boolean): AttackPlan => attackPlanFor(parseSimulationConfig({ ...tiny, attack: { ...malicious2, omniscient, attack } }))!;

  it('knows the simulated participants by the ids the simulation gives them', () => {
    for (const n of [1, 9, 10, 99, 100, 1234]) expect(simulatedIds(n)).toEqual(participantIds(n));
  });

  it('independent attacks run on the participant unless omniscient; colluding ones in the adversary; data attacks on data', () => {
    expect(plan({ name: 'sign-flip' }, false).site).toBe('participant');
    expect(plan({ name: 'sign-flip' }, true).site).toBe('adversary');
    expect(plan({ name: 'alie' }, false).site).toBe('adversary');
    expect(plan({ name: 'sybil' }, false).site).toBe('adversary');
    expect(plan({ name: 'label-flip' }, false).site).toBe('data');
    expect(plan({ name: 'sign-flip' }, false).malicious).toHaveLength(2);
  });

  it('a participant-side sign flip sends −scale × the honest delta in attack rounds only, and only for the attackers', async () => {
    const config = parseSimulationConfig({ ...tiny, attack: { ...malicious2, startRound: 2, attack: { name: 'sign-flip', scale: 2 } } });
    const [bad] = attackPlanFor(config)!.malicious;
    const honest = ['p1', 'p2', 'p3', 'p4', 'p5', 'p6'].find((id) => !attackPlanFor(config)!.malicious.includes(id))!;
    expect(attackClientFeature.stages!(config, honest)).toEqual([]);
    const [stage] = attackClientFeature.stages!(config, bad!);
    const delta = Float32Array.from([1, -2, 0.5]);
    const ctx = (round: number) => ({ round, actor: bad!, numSamples: 10, contributors: 1 });
    expect(Array.from(await stage!.apply(delta, ctx(1)))).toEqual([1, -2, 0.5]);
    expect(Array.from(await stage!.apply(delta, ctx(2)))).toEqual([-2, 4, -1]);
  });

  it('a non-omniscient adversary crafts from the malicious updates only; an omniscient one from the benign ones', () => {
    const contributions = (benignShift: number) => [
      { id: 'p1', update: Float32Array.from([1 + benignShift, 2]), weight: 1 },
      { id: 'p2', update: Float32Array.from([3, 1]), weight: 1 },
      { id: 'p3', update: Float32Array.from([2 - benignShift, 5 + benignShift]), weight: 1 },
      { id: 'p4', update: Float32Array.from([0, 1]), weight: 1 },
      { id: 'p5', update: Float32Array.from([4, 3]), weight: 1 },
    ];
    const attack: UpdateAttack = alie({ z: 1, direction: 'minus', ddof: 1 });
    const base = { startRound: 0, malicious: { ids: ['p2', 'p4'] }, attack: { name: 'alie', z: 1 } };
    const make = (omniscient: boolean) =>
      new AdversaryInterceptor({ config: { ...base, omniscient }, attack, malicious: ['p2', 'p4'], site: 'adversary', expected: { total: 5, malicious: 2 } }, 7);
    const crafted = (omniscient: boolean, shift: number) => make(omniscient).intercept(1, contributions(shift)).map((c) => Array.from(c.update));
    const local = crafted(false, 0);
    // mean − std of p2 = [3, 1] and p4 = [0, 1]: [1.5 − 2.1213, 1 − 0]
    expect(local[1]![0]).toBeCloseTo(1.5 - Math.SQRT2 * 1.5, 5);
    expect(local[1]![1]).toBeCloseTo(1, 6);
    expect(local[3]).toEqual(local[1]);
    expect(local[0]).toEqual([1, 2]); // benign updates pass untouched
    expect(crafted(false, 3)[1]).toEqual(local[1]); // blind to the benign updates
    expect(crafted(true, 3)[1]).not.toEqual(crafted(true, 0)[1]); // omniscient: sees them
  });
});

describe('flagging scores', () => {
  it('flags rejected contributions and those weighted below half of uniform', () => {
    const malicious = new Set(['a', 'b']);
    const d = [
      { id: 'a', accepted: false, weight: 0 },
      { id: 'b', accepted: true, weight: 0.09 }, // < 0.5 / 5 = 0.1: flagged
      { id: 'c', accepted: true, weight: 0.11 },
      { id: 'd', accepted: false, weight: 0 },
      { id: 'e', accepted: true, weight: 0.8 },
    ];
    expect(flaggingScores(d, malicious)).toEqual({ precision: 2 / 3, recall: 1 });
    expect(flaggingScores(d.map((x) => ({ ...x, accepted: true, weight: 0.2 })), malicious)).toEqual({ recall: 0 });
  });
});

describe('root set', () => {
  it('holds out the same examples for the same seed and removes them from every partition', () => {
    const config = parseSimulationConfig({ ...tiny, server: { rootSamples: 50 } });
    const withRoot = loadFederationData(config);
    const without = loadFederationData(parseSimulationConfig(tiny));
    const again = holdOutRootSet(without.train, without.partitions, 50, config.seed);
    expect(withRoot.root!.size).toBe(50);
    expect(Array.from(again.root.y)).toEqual(Array.from(withRoot.root!.y));
    const kept = new Set(withRoot.partitions.flat());
    const all = without.partitions.flat();
    expect(all.length - kept.size).toBe(50);
    expect(() => holdOutRootSet(without.train, without.partitions, 8000, 1)).toThrow(/only 8000 examples/);
  });
});
