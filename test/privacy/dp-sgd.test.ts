import { beforeAll, describe, expect, it } from 'vitest';
import { FedsecError } from '../../src/core/errors.js';
import { SeededRng } from '../../src/core/rng.js';
import { subset, type Dataset } from '../../src/data/dataset.js';
import { loadMnist } from '../../src/data/mnist.js';
import { initRuntime } from '../../src/model/backend.js';
import { LocalModel } from '../../src/model/local-model.js';
import { DpSgdTrainer, participantDpPlan } from '../../src/privacy/client-feature.js';
import { parseDpConfig } from '../../src/privacy/config.js';
import { dpSgdSchedule, poissonSample, trainDpSgd } from '../../src/privacy/dp-sgd.js';
import { computeRdp, DEFAULT_ORDERS, epsilonFromRdp } from '../../src/privacy/rdp-accountant.js';

const sgd = { epochs: 1, batchSize: 32, learningRate: 0.1, optimizer: 'sgd' as const };

function spread(size: number): Dataset {
  const { train } = loadMnist();
  return subset(train, Array.from({ length: size }, (_, i) => (i * 797) % train.size), 'mnist-spread');
}

describe('Poisson sampling and the DP-SGD schedule', () => {
  it('keeps each index with probability q (size within 5σ of q·n), all for q = 1, none for q = 0', () => {
    const n = 20_000;
    const q = 0.05;
    const sizes = Array.from({ length: 5 }, () => poissonSample(n, q).length);
    const sd = Math.sqrt(n * q * (1 - q));
    for (const s of sizes) expect(Math.abs(s - n * q)).toBeLessThan(5 * sd);
    // Fresh CSPRNG draws: two samples are (overwhelmingly likely) different.
    expect(poissonSample(n, q)).not.toEqual(poissonSample(n, q));
    const one = poissonSample(1000, 0.5);
    expect(one).toEqual([...one].sort((a, b) => a - b));
    expect(new Set(one).size).toBe(one.length);
    expect(poissonSample(7, 1)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(poissonSample(7, 0)).toEqual([]);
    expect(() => poissonSample(7, 1.5)).toThrow(FedsecError);
  });

  it('q = batchSize/n, round(epochs/q) steps, denominator q·n; q capped at 1', () => {
    expect(dpSgdSchedule(800, { epochs: 2, batchSize: 32 })).toEqual({ samplingRate: 0.04, stepsPerRound: 50, expectedBatchSize: 32 });
    expect(dpSgdSchedule(10, { epochs: 3, batchSize: 32 })).toEqual({ samplingRate: 1, stepsPerRound: 3, expectedBatchSize: 10 });
    expect(dpSgdSchedule(1000, { epochs: 1, batchSize: 32 }, 0.01)).toMatchObject({ samplingRate: 0.01, stepsPerRound: 100 });
    expect(() => dpSgdSchedule(0, { epochs: 1, batchSize: 1 })).toThrow(/at least one local example/);
  });
});

describe('trainDpSgd', () => {
  beforeAll(async () => {
    await initRuntime('wasm');
  });

  it('with q = 1, z = 0 and C ≫ every norm, one step is one full-batch SGD step (mean gradient)', async () => {
    const data = spread(64);
    const a = await LocalModel.create({ kind: 'mlp', hidden: [16] }, data.featureShape, 10, 'dpsgd');
    const b = await LocalModel.create({ kind: 'mlp', hidden: [16] }, data.featureShape, 10, 'dpsgd');
    await a.train(data, { ...sgd, batchSize: 64 }, SeededRng.from(1));
    const res = await trainDpSgd(b, data, { ...sgd, batchSize: 64 }, { clipNorm: 1e6, noiseMultiplier: 0, samplingRate: 1, steps: 1, microBatch: 24 });
    expect(res).toMatchObject({ steps: 1, meanBatchSize: 64, clippedFraction: 0, method: 'ghost' });
    const pa = a.getParams();
    const pb = b.getParams();
    let maxDiff = 0;
    let maxStep = 0;
    const init = (await LocalModel.create({ kind: 'mlp', hidden: [16] }, data.featureShape, 10, 'dpsgd')).getParams();
    for (let i = 0; i < pa.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(pa[i]! - pb[i]!));
      maxStep = Math.max(maxStep, Math.abs(pa[i]! - init[i]!));
    }
    expect(maxStep).toBeGreaterThan(1e-3);
    expect(maxDiff / maxStep).toBeLessThan(1e-4);
    a.dispose();
    b.dispose();
  });

  it('noise on the update has std lr·z·C/(q·n) per coordinate', async () => {
    const data = spread(50);
    const model = await LocalModel.create({ kind: 'logreg' }, data.featureShape, 10, 'noise');
    const before = model.getParams();
    // C tiny: the clipped gradient sum (≤ 50·C in norm) is negligible next to the noise.
    const c = 1e-4;
    const z = 5000;
    await trainDpSgd(model, data, { ...sgd, learningRate: 1 }, { clipNorm: c, noiseMultiplier: z, samplingRate: 1, steps: 1 });
    const after = model.getParams();
    let sq = 0;
    for (let i = 0; i < after.length; i++) sq += (after[i]! - before[i]!) ** 2;
    const std = Math.sqrt(sq / after.length);
    const expected = (z * c) / 50;
    // 7,850 coordinates: the sample std is within ±5% with overwhelming probability.
    expect(std / expected).toBeGreaterThan(0.95);
    expect(std / expected).toBeLessThan(1.05);
    model.dispose();
  });

  it('learns under moderate noise (z = 1, C = 1): held-out accuracy rises well above chance', async () => {
    const data = spread(1000);
    const { test } = loadMnist();
    const model = await LocalModel.create({ kind: 'logreg' }, data.featureShape, 10, 'learn');
    const before = model.evaluate(test).accuracy;
    const res = await trainDpSgd(model, data, { ...sgd, learningRate: 0.5 }, { clipNorm: 1, noiseMultiplier: 1, samplingRate: 0.1, steps: 30 });
    expect(res.meanBatchSize).toBeGreaterThan(60);
    expect(res.meanBatchSize).toBeLessThan(140);
    expect(before).toBeLessThan(0.3);
    expect(model.evaluate(test).accuracy).toBeGreaterThan(0.6);
    model.dispose();
  });

  it('refuses bad options', async () => {
    const data = spread(10);
    const model = await LocalModel.create({ kind: 'logreg' }, data.featureShape, 10, 'bad');
    await expect(trainDpSgd(model, data, sgd, { clipNorm: 1, noiseMultiplier: 1, samplingRate: 0, steps: 1 })).rejects.toThrow(/sampling rate/);
    await expect(trainDpSgd(model, data, sgd, { clipNorm: 1, noiseMultiplier: -1, samplingRate: 0.5, steps: 1 })).rejects.toThrow(/noise multiplier/);
    await expect(trainDpSgd(model, data, sgd, { clipNorm: 1, noiseMultiplier: 1, samplingRate: 0.5, steps: 0 })).rejects.toThrow(/steps/);
    model.dispose();
  });
});

describe('DpSgdTrainer (participant-side accountant and ε ceiling)', () => {
  beforeAll(async () => {
    await initRuntime('wasm');
  });

  it('accounts (q, z, steps) per round, reports ε, and refuses the round that would exceed its ceiling', async () => {
    const data = spread(100);
    const training = { ...sgd, batchSize: 20 }; // q = 0.2, 5 steps per round
    const eps = (rounds: number): number =>
      epsilonFromRdp(DEFAULT_ORDERS, computeRdp({ noiseMultiplier: 2, samplingRate: 0.2, steps: 5 * rounds }), 1e-5).epsilon;
    // A ceiling between ε after 2 and after 3 rounds.
    const ceiling = (eps(2) + eps(3)) / 2;
    const dp = parseDpConfig({ mode: 'sample', delta: 1e-5, noiseMultiplier: 2, clipNorm: 1, epsilon: 100, participantEpsilon: { p7: ceiling } });
    const trainer = new DpSgdTrainer('p7', dp, 10);
    const model = await LocalModel.create({ kind: 'logreg' }, data.featureShape, 10, 'trainer');
    const request = (round: number) => ({ round, params: model.getParams(), training, seed: 's' });
    const r1 = await trainer.train(model, data, request(1));
    expect(r1.loss).toBeNaN(); // the raw training loss is not released
    expect(r1.metrics.epsilon).toBeCloseTo(eps(1), 10);
    expect((await trainer.train(model, data, request(2))).metrics.epsilon).toBeCloseTo(eps(2), 10);
    const refused = trainer.train(model, data, request(3));
    await expect(refused).rejects.toMatchObject({ code: 'budget' });
    await expect(trainer.train(model, data, request(3))).rejects.toThrow(/participant p7 refuses to train round 3: its ε would rise from .* > its budget/);
    expect(trainer.spent()).toBeCloseTo(eps(2), 10);
    model.dispose();
  });

  it('calibrates z per participant so that the planned rounds fit its own ceiling', () => {
    const dp = parseDpConfig({ mode: 'sample', delta: 1e-5, epsilon: 4, clipNorm: 1, participantEpsilon: { p2: 1 } });
    const a = participantDpPlan(dp, 'p1', 800, { epochs: 1, batchSize: 32 }, 10);
    const b = participantDpPlan(dp, 'p2', 800, { epochs: 1, batchSize: 32 }, 10);
    expect(a.epsilonCeiling).toBe(4);
    expect(b.epsilonCeiling).toBe(1);
    expect(b.noiseMultiplier).toBeGreaterThan(a.noiseMultiplier);
    for (const p of [a, b]) {
      expect(p.plannedEpsilon).toBeLessThanOrEqual(p.epsilonCeiling!);
      expect(p.plannedEpsilon).toBeGreaterThan(p.epsilonCeiling! * 0.999);
      expect(p.schedule).toEqual({ samplingRate: 0.04, stepsPerRound: 25, expectedBatchSize: 32 });
    }
  });
});
