import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { FedsecError } from '../../src/core/errors.js';
import { subset } from '../../src/data/dataset.js';
import { loadMnist } from '../../src/data/mnist.js';
import { initRuntime } from '../../src/model/backend.js';
import { LocalModel } from '../../src/model/local-model.js';
import type { ModelSpec } from '../../src/model/zoo.js';
import { clippedGradientSum, ghostClippingUnsupported, perExampleLoss } from '../../src/privacy/per-example-clipping.js';

/** Max |a − b| relative to max |b| over all variables. */
function relDiff(a: tf.Tensor[], b: tf.Tensor[]): number {
  let num = 0;
  let den = 0;
  a.forEach((t, k) => {
    const x = t.dataSync();
    const y = b[k]!.dataSync();
    expect(x.length).toBe(y.length);
    for (let i = 0; i < x.length; i++) {
      num = Math.max(num, Math.abs(x[i]! - y[i]!));
      den = Math.max(den, Math.abs(y[i]!));
    }
  });
  return num / den;
}

async function batchFor(spec: ModelSpec, size: number): Promise<{ model: LocalModel; x: tf.Tensor; y: tf.Tensor }> {
  const { train } = loadMnist();
  const model = await LocalModel.create(spec, train.featureShape, 10, 'ghost-test');
  // Spread over classes (the split is ordered by class).
  const idx = Array.from({ length: size }, (_, i) => (i * 797) % train.size);
  const { x, y } = model.batch(subset(train, idx), Array.from({ length: size }, (_, i) => i));
  return { model, x, y };
}

// Tolerance: ghost and per-example differ only in float32 summation order; 1e-4 relative on the
// clipped sum and 1e-4 on each norm leaves two orders of magnitude above what we observe (~1e-6).
const TOL = 1e-4;

describe('per-example gradient clipping', () => {
  beforeAll(async () => {
    await initRuntime('wasm');
  });

  for (const [name, spec] of [
    ['logreg', { kind: 'logreg' }],
    ['MLP', { kind: 'mlp', hidden: [32, 16] }],
    ['CNN', { kind: 'cnn', filters: [4, 6], kernelSize: 3, dense: 16 }],
  ] as const) {
    it(`${name}: ghost clipping equals the naive per-example loop (norms and clipped sum)`, async () => {
      const { model, x, y } = await batchFor(spec as ModelSpec, 12);
      expect(ghostClippingUnsupported(model)).toBeUndefined();
      const naiveUnclipped = clippedGradientSum(model, x, y, 1e9, 'per-example');
      const norms = Array.from(naiveUnclipped.norms).sort((a, b) => a - b);
      // A bound between the smallest and largest norm, so some examples are clipped and some are not.
      const c = norms[Math.floor(norms.length / 2)]!;
      const naive = clippedGradientSum(model, x, y, c, 'per-example');
      const ghost = clippedGradientSum(model, x, y, c, 'ghost');
      expect(ghost.method).toBe('ghost');
      ghost.norms.forEach((n, i) => expect(Math.abs(n - naive.norms[i]!) / naive.norms[i]!).toBeLessThan(TOL));
      expect(relDiff(ghost.sum, naive.sum)).toBeLessThan(TOL);
      // Unclipped (C huge), the sum is the gradient of Σ ℓ_i.
      const unclipped = clippedGradientSum(model, x, y, 1e9, 'ghost');
      const vars = model.model.trainableWeights.map((w) => w.read() as tf.Variable);
      const { value, grads } = tf.variableGrads(() => tf.sum(perExampleLoss(model.model.apply(x, { training: true }) as tf.Tensor, y, false)) as tf.Scalar, vars);
      expect(relDiff(unclipped.sum, vars.map((v) => grads[v.name]!))).toBeLessThan(TOL);
      tf.dispose([value, ...Object.values(grads), ...naiveUnclipped.sum, ...naive.sum, ...ghost.sum, ...unclipped.sum, x, y]);
      model.dispose();
    });
  }

  it('strided and even-kernel convolutions with asymmetric "same" padding, a bias-free layer, and a softmax output', async () => {
    const net = tfl.sequential({
      layers: [
        tfl.layers.conv2d({ inputShape: [28, 28, 1], filters: 3, kernelSize: 4, strides: 2, padding: 'same', activation: 'tanh' }),
        tfl.layers.conv2d({ filters: 4, kernelSize: 2, padding: 'same', activation: 'relu' }),
        tfl.layers.averagePooling2d({ poolSize: 2 }),
        tfl.layers.conv2d({ filters: 2, kernelSize: [3, 2], strides: [2, 1], padding: 'valid', useBias: false }),
        tfl.layers.flatten(),
        tfl.layers.dense({ units: 10, activation: 'softmax' }),
      ],
    });
    const model = LocalModel.wrap(net, [28, 28, 1], 10);
    expect(ghostClippingUnsupported(model)).toBeUndefined();
    const { train } = loadMnist();
    const idx = Array.from({ length: 10 }, (_, i) => i * 800 + 3);
    const { x, y } = model.batch(train, idx);
    const free = clippedGradientSum(model, x, y, 1e9, 'per-example');
    const c = Array.from(free.norms).sort((a, b) => a - b)[5]!;
    const naive = clippedGradientSum(model, x, y, c, 'per-example');
    const ghost = clippedGradientSum(model, x, y, c, 'ghost');
    ghost.norms.forEach((n, i) => expect(Math.abs(n - naive.norms[i]!) / naive.norms[i]!).toBeLessThan(TOL));
    expect(relDiff(ghost.sum, naive.sum)).toBeLessThan(TOL);
    tf.dispose([x, y, ...free.sum, ...naive.sum, ...ghost.sum]);
    model.dispose();
  });

  it('every clipped per-example contribution has norm ≤ C', async () => {
    const { model, x, y } = await batchFor({ kind: 'mlp', hidden: [16] }, 8);
    const c = 0.05; // far below every norm: all are clipped
    for (let i = 0; i < 8; i++) {
      const xi = tf.slice(x, i, 1);
      const yi = tf.slice(y, i, 1);
      const one = clippedGradientSum(model, xi, yi, c, 'ghost');
      expect(one.norms[0]!).toBeGreaterThan(c);
      let sq = 0;
      for (const t of one.sum) for (const v of t.dataSync()) sq += v * v;
      expect(Math.sqrt(sq)).toBeLessThanOrEqual(c);
      expect(Math.sqrt(sq)).toBeGreaterThan(c * 0.999);
      tf.dispose([xi, yi, ...one.sum]);
    }
    tf.dispose([x, y]);
    model.dispose();
  });

  it('falls back to the per-example loop for layers without a norm rule, and says why', async () => {
    const net = tfl.sequential({
      layers: [
        tfl.layers.flatten({ inputShape: [28, 28, 1] }),
        tfl.layers.dense({ units: 8, activation: 'relu' }),
        tfl.layers.dropout({ rate: 0.1 }),
        tfl.layers.dense({ units: 10 }),
      ],
    });
    const model = LocalModel.wrap(net, [28, 28, 1], 10);
    expect(ghostClippingUnsupported(model)).toMatch(/Dropout/);
    const { train } = loadMnist();
    const { x, y } = model.batch(train, [0, 1000, 2000]);
    const auto = clippedGradientSum(model, x, y, 1, 'auto');
    expect(auto.method).toBe('per-example');
    expect(auto.norms).toHaveLength(3);
    expect(() => clippedGradientSum(model, x, y, 1, 'ghost')).toThrow(FedsecError);
    expect(() => clippedGradientSum(model, x, y, 0, 'auto')).toThrow(/clip norm must be a positive number/);
    tf.dispose([x, y, ...auto.sum]);
    model.dispose();
  });
});
