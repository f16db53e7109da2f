import { beforeAll, describe, expect, it } from 'vitest';
import { makeLayout } from '../../src/core/params.js';
import { SeededRng } from '../../src/core/rng.js';
import { l2Norm } from '../../src/core/vector.js';
import { subset } from '../../src/data/dataset.js';
import { loadMnist } from '../../src/data/mnist.js';
import { initRuntime } from '../../src/model/backend.js';
import { calibrateNoiseMultiplier } from '../../src/privacy/calibrate.js';
import { analyticCandidates, analyticRecovery } from '../../src/attacks/privacy/analytic-recovery.js';
import { invertGradient } from '../../src/attacks/privacy/gradient-inversion.js';
import { flatGradient } from '../../src/attacks/privacy/gradients.js';
import { clipToUnit, psnr } from '../../src/attacks/privacy/image-metrics.js';
import { idlgLabel } from '../../src/attacks/privacy/label-recovery.js';
import { leakageDefenceSchema, observe, quantiseVector, resolveDefences } from '../../src/attacks/privacy/observation.js';
import { buildVictimModel } from '../../src/attacks/privacy/victim-models.js';

beforeAll(async () => {
  await initRuntime('wasm');
});

const defence = (spec: unknown, batch = 1) => resolveDefences([leakageDefenceSchema.parse(spec)], batch)[0]!;

describe('analytic recovery from a dense first layer', () => {
  it('recovers a single MNIST digit exactly from a ReLU MLP gradient', async () => {
    const { train } = loadMnist();
    const model = await buildVictimModel({ kind: 'zoo', spec: { kind: 'mlp', hidden: [32] } }, train.featureShape, 10, 'analytic');
    const g = flatGradient(model, train, [5]);
    const [best] = analyticRecovery(g, model.layout, 784, 1);
    expect(psnr(train.x.subarray(5 * 784, 6 * 784), clipToUnit(best!.image))).toBeGreaterThan(60);
    model.dispose();
  });

  it('gives Σ δ_i x_i / Σ δ_i per unit, and ranks a pure (recurring) input first', () => {
    // Two inputs, three units: unit 0 sees both, units 1 and 2 only x1.
    const x1 = [0.2, 0.8, 0.5];
    const x2 = [0.9, 0.1, 0.4];
    const delta = [[0.5, 1.5], [2, 0], [-1, 0]];
    const layout = makeLayout([{ name: 'h/kernel', shape: [3, 3] }, { name: 'h/bias', shape: [3] }]);
    const g = new Float32Array(layout.size);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) g[i * 3 + j] = delta[j]![0]! * x1[i]! + delta[j]![1]! * x2[i]!;
    for (let j = 0; j < 3; j++) g[9 + j] = delta[j]![0]! + delta[j]![1]!;
    const cands = analyticCandidates(g, layout, 3);
    expect(cands).toHaveLength(3);
    Array.from(cands[0]!.image).forEach((v, i) => expect(v).toBeCloseTo((0.5 * x1[i]! + 1.5 * x2[i]!) / 2, 6));
    const ranked = analyticRecovery(g, layout, 3, 2);
    expect(ranked[0]!.units).toBe(2);
    Array.from(ranked[0]!.image).forEach((v, i) => expect(v).toBeCloseTo(x1[i]!, 6));
    expect(() => analyticRecovery(new Float32Array(12), makeLayout([{ name: 'c', shape: [2, 2, 1, 3] }]), 3, 1)).toThrow(/first layer is dense/);
  });
});

describe('gradient inversion (iDLG)', () => {
  it('reconstructs an MNIST digit from a sigmoid MLP gradient with the recovered label', async () => {
    const { train } = loadMnist();
    const model = await buildVictimModel({ kind: 'mlp', hidden: [32], activation: 'sigmoid' }, train.featureShape, 10, 'idlg');
    const g = flatGradient(model, train, [11]);
    const label = idlgLabel(g, model.layout, 10);
    expect(label).toBe(train.y[11]);
    const r = invertGradient(model, g, { batchSize: 1, labels: [label], distance: 'scaled-l2', tv: 0, optimizer: { kind: 'lbfgs', iterations: 40 }, rng: SeededRng.from(1) });
    expect(psnr(train.x.subarray(11 * 784, 12 * 784), clipToUnit(r.images[0]!))).toBeGreaterThan(30);
    // The same attack against an unrelated gradient does not produce this digit.
    const other = flatGradient(model, train, [12]);
    const wrong = invertGradient(model, other, { batchSize: 1, labels: [train.y[12]!], distance: 'scaled-l2', tv: 0, optimizer: { kind: 'lbfgs', iterations: 40 }, rng: SeededRng.from(1) });
    expect(psnr(train.x.subarray(11 * 784, 12 * 784), clipToUnit(wrong.images[0]!))).toBeLessThan(20);
    expect(() => invertGradient(model, new Float32Array(model.layout.size), { batchSize: 1, labels: [0], distance: 'l2', tv: 0, optimizer: { kind: 'lbfgs', iterations: 1 }, rng: SeededRng.from(1) })).toThrow(/nothing to match/);
    model.dispose();
  });
});

describe('what the attacker observes', () => {
  it('a one-step FedSGD update converts back to the gradient; secure aggregation gives the mean of K gradients', async () => {
    const { train } = loadMnist();
    const model = await buildVictimModel({ kind: 'mlp', hidden: [16], activation: 'sigmoid' }, train.featureShape, 10, 'obs');
    const params = model.getParams();
    const batches = [0, 1, 2].map((k) => subset(train, [2 * k, 2 * k + 1]));
    const raw = batches.map((b) => {
      model.setParams(params);
      return flatGradient(model, b, [0, 1]);
    });
    const obs = await observe(model, params, batches[0]!, [], defence({ kind: 'none' }, 2), 'fedsgd', 0.1, SeededRng.from(1));
    expect(obs.examples).toBe(2);
    const diff = Float32Array.from(obs.gradient, (v, i) => v - raw[0]![i]!);
    expect(l2Norm(diff)).toBeLessThan(1e-3 * l2Norm(raw[0]!));
    const sa = await observe(model, params, batches[0]!, batches.slice(1), defence({ kind: 'secagg', participants: 3 }, 2), 'gradient', 0.1, SeededRng.from(1));
    expect(sa.examples).toBe(6);
    const mean = raw[0]!.map((_, i) => (raw[0]![i]! + raw[1]![i]! + raw[2]![i]!) / 3);
    expect(l2Norm(Float32Array.from(sa.gradient, (v, i) => v - mean[i]!))).toBeLessThan(1e-5 * l2Norm(mean));
    expect(model.getParams()).toEqual(params); // observing leaves the model as it was
    model.dispose();
  });

  it('clipping bounds the update; top-k sends the largest fraction and tells the attacker where', async () => {
    const { train } = loadMnist();
    const model = await buildVictimModel({ kind: 'mlp', hidden: [16], activation: 'sigmoid' }, train.featureShape, 10, 'obs2');
    const params = model.getParams();
    const batch = subset(train, [3]);
    const raw = flatGradient(model, batch, [0]);
    const clipped = await observe(model, params, batch, [], defence({ kind: 'clip', clipNorm: 0.05 }), 'fedsgd', 0.1, SeededRng.from(1));
    expect(l2Norm(clipped.gradient) * 0.1).toBeLessThanOrEqual(0.05 * (1 + 1e-6));
    const top = await observe(model, params, batch, [], defence({ kind: 'topk', keep: 0.1 }), 'gradient', 0.1, SeededRng.from(1));
    const kept = top.mask!.reduce((s, v) => s + v, 0);
    expect(kept).toBe(Math.round(0.1 * raw.length));
    const threshold = Math.min(...Array.from(raw).filter((_, i) => top.mask![i] === 1).map(Math.abs));
    expect(Array.from(raw).filter((_, i) => top.mask![i] === 0).every((v) => Math.abs(v) <= threshold)).toBe(true);
    model.dispose();
  });

  it('DP noise is calibrated to the target ε and has the advertised scale', async () => {
    const { train } = loadMnist();
    const model = await buildVictimModel({ kind: 'mlp', hidden: [16], activation: 'sigmoid' }, train.featureShape, 10, 'obs3');
    const params = model.getParams();
    const cdp = defence({ kind: 'client-dp', epsilon: 8, clipNorm: 1, samplingRate: 0.1, rounds: 100 });
    if (cdp.kind !== 'client-dp') throw new Error('unexpected');
    expect(cdp.noiseMultiplier).toBe(calibrateNoiseMultiplier({ epsilon: 8, delta: 1e-5, samplingRate: 0.1, steps: 100 }).noiseMultiplier);
    const obs = await observe(model, params, subset(train, [4]), [], cdp, 'gradient', 0.1, SeededRng.from(1));
    // Observation = clip_1(g) + N(0, z²): its spread is dominated by the noise.
    const sd = Math.sqrt(obs.gradient.reduce((s, v) => s + v * v, 0) / obs.gradient.length);
    expect(sd).toBeGreaterThan(0.9 * cdp.noiseMultiplier);
    expect(sd).toBeLessThan(1.1 * cdp.noiseMultiplier + 1 / Math.sqrt(obs.gradient.length));
    const sgd = defence({ kind: 'dp-sgd', epsilon: 8, clipNorm: 1, localExamples: 100, epochs: 1, rounds: 10 }, 4);
    if (sgd.kind !== 'dp-sgd') throw new Error('unexpected');
    expect(sgd.samplingRate).toBe(0.04);
    expect(sgd.steps).toBe(250);
    const obs2 = await observe(model, params, subset(train, [5, 6, 7, 8]), [], sgd, 'gradient', 0.1, SeededRng.from(1));
    const sd2 = Math.sqrt(obs2.gradient.reduce((s, v) => s + v * v, 0) / obs2.gradient.length);
    expect(sd2).toBeGreaterThan(0.9 * sgd.noiseMultiplier / 4);
    expect(sd2).toBeLessThan(1.1 * sgd.noiseMultiplier / 4 + 1 / Math.sqrt(obs2.gradient.length));
    expect(() => defence({ kind: 'dp-sgd', epsilon: 8, localExamples: 2 }, 4)).toThrow(/exceeds localExamples/);
    model.dispose();
  });

  it('quantisation lands on 2^b levels per tensor and is unbiased', () => {
    const rng = SeededRng.from('q');
    const layout = makeLayout([{ name: 'a', shape: [50] }, { name: 'b', shape: [50] }]);
    const v = Float32Array.from({ length: 100 }, (_, i) => (i < 50 ? 1 : 1e-3) * Math.sin(i));
    const q = quantiseVector(v, 2, rng, layout);
    expect(new Set(Array.from(q.subarray(0, 50), (x) => x.toFixed(5))).size).toBeLessThanOrEqual(4);
    expect(Math.max(...Array.from(q.subarray(50), Math.abs))).toBeLessThanOrEqual(1e-3 + 1e-9); // per-tensor scale
    const avg = new Float64Array(100);
    for (let t = 0; t < 2000; t++) quantiseVector(v, 1, rng, layout).forEach((x, i) => (avg[i]! += x / 2000));
    avg.forEach((a, i) => expect(Math.abs(a - v[i]!)).toBeLessThan(0.1 * (i < 50 ? 1 : 1e-3)));
  });
});
