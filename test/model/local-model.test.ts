import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as tfl from '@tensorflow/tfjs-layers';
import { SeededRng } from '../../src/core/rng.js';
import { subset } from '../../src/data/dataset.js';
import { loadMnist } from '../../src/data/mnist.js';
import { initRuntime } from '../../src/model/backend.js';
import { LocalModel } from '../../src/model/local-model.js';
import { saveLayersModelToFiles } from '../../src/model/model-files.js';

const cfg = { epochs: 1, batchSize: 32, learningRate: 0.1, optimizer: 'sgd' as const };

describe('LocalModel', () => {
  beforeAll(async () => {
    await initRuntime('wasm');
  });

  it('round-trips parameters through the flat vector and is seeded', async () => {
    const { train } = loadMnist();
    const a = await LocalModel.create({ kind: 'cnn', filters: [4, 8], kernelSize: 3, dense: 16 }, train.featureShape, 10, 'seed-a');
    const b = await LocalModel.create({ kind: 'cnn', filters: [4, 8], kernelSize: 3, dense: 16 }, train.featureShape, 10, 'seed-a');
    const c = await LocalModel.create({ kind: 'cnn', filters: [4, 8], kernelSize: 3, dense: 16 }, train.featureShape, 10, 'seed-b');
    expect(a.layout.entries.map((e) => e.name)).toEqual(['conv1/kernel', 'conv1/bias', 'conv2/kernel', 'conv2/bias', 'dense1/kernel', 'dense1/bias', 'logits/kernel', 'logits/bias']);
    expect(a.getParams()).toEqual(b.getParams());
    expect(a.getParams()).not.toEqual(c.getParams());
    const v = Float32Array.from({ length: a.layout.size }, (_, i) => Math.sin(i));
    a.setParams(v);
    expect(a.getParams()).toEqual(v);
    [a, b, c].forEach((m) => m.dispose());
  });

  it('trains (loss falls, accuracy rises) and evaluates per class', async () => {
    const { train, test } = loadMnist();
    const model = await LocalModel.create({ kind: 'mlp', hidden: [32] }, train.featureShape, 10, 1);
    const before = model.evaluate(test);
    await model.train(subset(train, Array.from({ length: 1000 }, (_, i) => i)), cfg, SeededRng.from(1));
    const after = model.evaluate(test);
    expect(after.loss).toBeLessThan(before.loss);
    expect(after.accuracy).toBeGreaterThan(0.6);
    expect(after.perClassAccuracy).toHaveLength(10);
    model.dispose();
  });

  it('refuses data of the wrong shape with a clear message', async () => {
    const { train } = loadMnist();
    const model = await LocalModel.create({ kind: 'logreg' }, [10], 3, 1);
    await expect(model.train(train, cfg, SeededRng.from(1))).rejects.toThrow(/784 features per example, the model expects 10/);
    model.dispose();
  });

  it("loads a user's own LayersModel (model.json + weights), including softmax outputs", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedsec-model-'));
    const user = tfl.sequential({ layers: [tfl.layers.flatten({ inputShape: [28, 28, 1] }), tfl.layers.dense({ units: 10, activation: 'softmax' })] });
    const path = await saveLayersModelToFiles(user, dir);
    const loaded = await LocalModel.create({ kind: 'file', path }, [28, 28, 1], 10, 1);
    expect(loaded.getParams()).toEqual(LocalModel.wrap(user, [28, 28, 1], 10).getParams());
    const { train } = loadMnist();
    const r = await loaded.train(subset(train, Array.from({ length: 300 }, (_, i) => i)), cfg, SeededRng.from(2));
    expect(Number.isFinite(r.loss)).toBe(true);
    await expect(LocalModel.create({ kind: 'file', path }, [28, 28, 1], 5, 1)).rejects.toThrow(/outputs \[10\], the data has 5 classes/);
    writeFileSync(join(dir, 'broken.json'), '{"modelTopology": 3}');
    await expect(LocalModel.create({ kind: 'file', path: join(dir, 'broken.json') }, [28, 28, 1], 10, 1)).rejects.toThrow(/not a tfjs LayersModel/);
    await expect(LocalModel.create({ kind: 'file', path: join(dir, 'nope.json') }, [28, 28, 1], 10, 1)).rejects.toThrow(/cannot read model file/);
  });
});
