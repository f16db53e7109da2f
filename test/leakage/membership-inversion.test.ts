import { beforeAll, describe, expect, it } from 'vitest';
import { SeededRng } from '../../src/core/rng.js';
import { add } from '../../src/core/vector.js';
import { subset } from '../../src/data/dataset.js';
import { loadMnist } from '../../src/data/mnist.js';
import { initRuntime, tf } from '../../src/model/backend.js';
import { resolveDpConfig, dpConfigSchema } from '../../src/privacy/config.js';
import { expandTrainingDefences, participantModel, trainFederated, trainingDefenceSchema } from '../../src/attacks/privacy/federated-training.js';
import { exampleStats, liraScores, lossThresholdScores, referenceCalibratedScores } from '../../src/attacks/privacy/membership-inference.js';
import { classMeans, invertClass, nearestClassMean } from '../../src/attacks/privacy/model-inversion.js';
import { rocSummary } from '../../src/attacks/privacy/roc.js';
import { buildVictimModel } from '../../src/attacks/privacy/victim-models.js';

beforeAll(async () => {
  await initRuntime('wasm');
});

describe('membership scores', () => {
  it('LiRA separates members whose confidence shifts when they are trained on, and not otherwise', () => {
    const rng = SeededRng.from('lira');
    const n = 400;
    const shadows = 6;
    const base = Array.from({ length: n }, () => 4 * rng.normal()); // per-example difficulty
    const shadowIn = Array.from({ length: shadows }, () => Array.from({ length: n }, () => rng.next() < 0.5));
    const shift = (signal: number) => Array.from({ length: shadows }, (_, s) => Float32Array.from(base, (b, i) => b + (shadowIn[s]![i] ? signal : 0) + 0.3 * rng.normal()));
    const member = Array.from({ length: n }, (_, i) => i % 2 === 0);
    const target = (signal: number) => Float32Array.from(base, (b, i) => b + (member[i] ? signal : 0) + 0.3 * rng.normal());
    expect(rocSummary(liraScores(target(1.5), shift(1.5), shadowIn), member).auc).toBeGreaterThan(0.95);
    // The uncalibrated confidence barely separates them: per-example difficulty dominates.
    expect(rocSummary(target(1.5), member).auc).toBeLessThan(0.7);
    const none = rocSummary(liraScores(target(0), shift(0), shadowIn), member).auc;
    expect(Math.abs(none - 0.5)).toBeLessThan(0.1);
  });

  it('LiRA scores stay finite when an example has no IN (or OUT) shadow, and need ≥ 2 shadows', () => {
    const phi = [Float32Array.from([1, 2, 3]), Float32Array.from([1.5, 2.5, 3.5])];
    const scores = liraScores(Float32Array.from([1, 2, 3]), phi, [[true, false, true], [true, true, false]]);
    scores.forEach((s) => expect(Number.isFinite(s)).toBe(true));
    expect(() => liraScores(Float32Array.from([1]), [Float32Array.from([1])], [[true]])).toThrow(/at least 2 shadow/);
  });

  it('loss threshold and reference calibration are −ℓ and ℓ_ref − ℓ', () => {
    expect(Array.from(lossThresholdScores([0.5, 2]))).toEqual([-0.5, -2]);
    expect(Array.from(referenceCalibratedScores([0.5, 2], [1, 1]))).toEqual([0.5, -1]);
    expect(() => referenceCalibratedScores([1], [1, 2])).toThrow(/reference losses/);
  });

  it('exampleStats: loss is the cross-entropy and φ = log(p_y / (1 − p_y))', async () => {
    const { train } = loadMnist();
    const model = await buildVictimModel({ kind: 'zoo', spec: { kind: 'mlp', hidden: [8] } }, train.featureShape, 10, 'stats');
    const ds = subset(train, [0, 1, 2, 3, 4]);
    const stats = exampleStats(model, ds, 2);
    const probs = tf.tidy(() => tf.softmax(model.model.apply(model.batch(ds, [0, 1, 2, 3, 4]).x) as tf.Tensor).arraySync() as number[][]);
    probs.forEach((p, i) => {
      const py = p[ds.y[i]!]!;
      expect(stats.loss[i]).toBeCloseTo(-Math.log(py), 4);
      expect(stats.phi[i]).toBeCloseTo(Math.log(py / (1 - py)), 3);
    });
    model.dispose();
  });
});

describe('federated training for the attacks', () => {
  it('runs FedAvg with client-level DP (noise calibrated by resolveDpConfig) and exposes the last updates', async () => {
    const { train } = loadMnist();
    const model = await buildVictimModel({ kind: 'zoo', spec: { kind: 'logreg' } }, train.featureShape, 10, 'fl');
    const init = model.getParams();
    const shards = [subset(train, [0, 1, 2, 3]), subset(train, [4, 5, 6, 7])];
    const [cdp] = expandTrainingDefences([trainingDefenceSchema.parse({ kind: 'client-dp', epsilon: 8, clipNorm: 0.5 })]);
    const run = await trainFederated(model, init, shards, 2, { epochs: 1, batchSize: 2, learningRate: 0.1, optimizer: 'sgd' }, cdp!, 'fl');
    const expected = resolveDpConfig(dpConfigSchema.parse({ mode: 'client', epsilon: 8, delta: 1e-5, clipNorm: 0.5 }), { rounds: 2, samplingRate: 1, population: 2 });
    expect(run.noiseMultiplier).toBe(expected.noiseMultiplier);
    expect(run.epsilon).toBeLessThanOrEqual(8);
    expect(run.lastUpdates).toHaveLength(2);
    run.lastUpdates.forEach((u) => expect(Math.hypot(...u)).toBeLessThanOrEqual(0.5 * (1 + 1e-6)));
    expect(participantModel(run, 1)).toEqual(add(run.previousParams, run.lastUpdates[1]!));
    expect(() => participantModel(run, 2)).toThrow(/no participant 2/);
    const [none] = expandTrainingDefences([{ kind: 'none' }]);
    const plain = await trainFederated(model, init, shards, 1, { epochs: 1, batchSize: 2, learningRate: 0.1, optimizer: 'sgd' }, none!, 'fl');
    // Plain FedAvg: the new model is the sample-weighted mean of the local models (equal shards here).
    const mean = plain.lastUpdates[0]!.map((v, i) => init[i]! + (v + plain.lastUpdates[1]![i]!) / 2);
    mean.forEach((v, i) => expect(plain.finalParams[i]).toBeCloseTo(v, 6));
    model.dispose();
  });
});

describe('model inversion', () => {
  it('recovers class representatives from a linear model built on class means', async () => {
    const { train } = loadMnist();
    const ds = subset(train, Array.from({ length: 2000 }, (_, i) => i));
    const { means, counts } = classMeans(ds);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(2000);
    const overall = means[0]!.map((_, k) => means.reduce((s, m) => s + m[k]!, 0) / means.length);
    // A logistic regression whose class-c weights are (mean_c − overall mean): a model that "learnt" the classes.
    const model = await buildVictimModel({ kind: 'zoo', spec: { kind: 'logreg' } }, train.featureShape, 10, 'mi');
    const w = new Float32Array(784 * 10);
    for (let k = 0; k < 784; k++) for (let c = 0; c < 10; c++) w[k * 10 + c] = 5 * (means[c]![k]! - overall[k]!);
    model.setParams(Float32Array.from([...w, ...new Float32Array(10)]));
    let identified = 0;
    for (let c = 0; c < 10; c++) {
      const r = invertClass(model, c, { iterations: 60, learningRate: 0.05, cost: 'cross-entropy', tv: 0.3 });
      expect(r.confidence).toBeGreaterThan(0.5);
      r.image.forEach((v) => expect(v >= 0 && v <= 1).toBe(true));
      if (nearestClassMean(r.image, means) === c) identified++;
    }
    expect(identified).toBeGreaterThanOrEqual(9);
    expect(() => invertClass(model, 10, { iterations: 1, learningRate: 0.1, cost: 'one-minus-p', tv: 0 })).toThrow(/class 10/);
    model.dispose();
  });
});
