import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeLayout } from '../../src/core/params.js';
import { loadMnist } from '../../src/data/mnist.js';
import { initRuntime } from '../../src/model/backend.js';
import { flatGradient } from '../../src/attacks/privacy/gradients.js';
import { idlgLabel, labelAccuracy, lastLayerColumnSums, recoverBatchLabels } from '../../src/attacks/privacy/label-recovery.js';
import { buildVictimModel, type VictimModelSpec } from '../../src/attacks/privacy/victim-models.js';

beforeAll(async () => {
  await initRuntime('wasm');
});

/** A last-layer gradient h ⊗ (p − y) laid out as [inputs, classes] after some other parameter. */
function syntheticGradient(h: number[], logits: number[], labels: number[]): { grad: Float32Array; layout: ReturnType<typeof makeLayout> } {
  const c = logits.length;
  const layout = makeLayout([{ name: 'hidden/kernel', shape: [3, h.length] }, { name: 'logits/kernel', shape: [h.length, c] }, { name: 'logits/bias', shape: [c] }]);
  const grad = new Float32Array(layout.size);
  const m = Math.max(...logits);
  const e = logits.map((z) => Math.exp(z - m));
  const s = e.reduce((a, b) => a + b, 0);
  const off = layout.entries[1]!.offset;
  for (const y of labels) {
    for (let i = 0; i < h.length; i++) for (let k = 0; k < c; k++) grad[off + i * c + k]! += (h[i]! * (e[k]! / s - (k === y ? 1 : 0))) / labels.length;
  }
  return { grad, layout };
}

describe('iDLG label rule', () => {
  it('returns the true label for any non-negative last-layer input and any logits (property)', () => {
    fc.assert(fc.property(
      fc.array(fc.double({ min: 0, max: 5, noNaN: true }), { minLength: 1, maxLength: 12 }).filter((h) => h.some((v) => v > 1e-3)),
      fc.array(fc.double({ min: -20, max: 20, noNaN: true }), { minLength: 2, maxLength: 10 }),
      fc.nat(),
      (h, logits, pick) => {
        const y = pick % logits.length;
        const { grad, layout } = syntheticGradient(h, logits, [y]);
        const sums = lastLayerColumnSums(grad, layout, logits.length);
        // The sign structure iDLG relies on: the true column ≤ 0, every other ≥ 0.
        sums.forEach((v, k) => (k === y ? expect(v).toBeLessThanOrEqual(0) : expect(v).toBeGreaterThanOrEqual(0)));
        if (sums[y]! < 0) expect(idlgLabel(grad, layout, logits.length)).toBe(y);
      },
    ), { numRuns: 300 });
  });

  it('recovers 100% of labels from real single-example MNIST gradients (LeNet-sigmoid and ReLU MLP, fresh inits)', async () => {
    const { train } = loadMnist();
    const specs: VictimModelSpec[] = [{ kind: 'lenet', channels: 4, activation: 'sigmoid' }, { kind: 'zoo', spec: { kind: 'mlp', hidden: [32] } }];
    for (const spec of specs) {
      let correct = 0;
      for (let t = 0; t < 10; t++) {
        const model = await buildVictimModel(spec, train.featureShape, 10, `labels-${t}`);
        const g = flatGradient(model, train, [t * 37]);
        if (idlgLabel(g, model.layout, 10) === train.y[t * 37]) correct++;
        model.dispose();
      }
      expect(correct).toBe(10);
    }
  });

  it('batch rule: distinct labels are recovered; accuracy is order-free multiset overlap', () => {
    const { grad, layout } = syntheticGradient([1, 2, 0.5], [0.1, -0.3, 0.2, 0.0, 0.4], [3, 0, 4]);
    expect(recoverBatchLabels(grad, layout, 5, 3).sort()).toEqual([0, 3, 4]);
    expect(labelAccuracy([1, 1, 2], [1, 2, 2])).toBeCloseTo(2 / 3, 12);
    expect(labelAccuracy([3, 0, 4], [4, 3, 0])).toBe(1);
    expect(() => recoverBatchLabels(grad, layout, 5, 0)).toThrow(/batch size/);
  });

  it('fails clearly without a logits kernel', () => {
    const layout = makeLayout([{ name: 'w', shape: [4, 3] }]);
    expect(() => idlgLabel(new Float32Array(12), layout, 10)).toThrow(/no dense kernel with 10 outputs/);
  });
});
