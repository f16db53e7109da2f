import { describe, expect, it } from 'vitest';
import { subset } from '../../src/data/dataset.js';
import { LocalModel } from '../../src/model/local-model.js';
import { activationClustering } from '../../src/monitoring/activation-clustering.js';
import { runProbes } from '../../src/monitoring/backdoor-probes.js';
import { activationClusteringConfigSchema, neuralCleanseConfigSchema } from '../../src/monitoring/config.js';
import { neuralCleanse, stampTrigger, targetRate } from '../../src/monitoring/neural-cleanse.js';
import { TARGET, trainFixture } from './backdoor-fixtures.js';

// Small budgets keep this file at a few seconds; docs/monitoring.md reports rates over seeds.
const nc = { ...neuralCleanseConfigSchema.parse({ steps: 80 }), seed: 1 };
const ac = { ...activationClusteringConfigSchema.parse({}), seed: 1 };

describe('Neural Cleanse', () => {
  it('flags the target class of a backdoored model, and its reversed trigger works on held-out digits', async () => {
    const f = await trainFixture(true, 1);
    const r = neuralCleanse(f.model, f.validation, nc);
    expect(r.flagged).toEqual([TARGET]);
    const t = r.perClass.find((c) => c.target === TARGET)!;
    expect(t.reached).toBe(true);
    expect(t.anomalyIndex).toBeGreaterThan(nc.threshold);
    expect(t.maskL1).toBeLessThan(0.5 * r.medianL1);
    // the reversed trigger is a real trigger: it sends most other-class test digits to the target
    const others = subset(f.test, Array.from(f.test.y.keys()).filter((i) => f.test.y[i] !== TARGET).slice(0, 300));
    expect(targetRate(f.model, stampTrigger(others, r.triggers.get(TARGET)!), TARGET)).toBeGreaterThan(0.7);
    f.model.dispose();
  });

  it('flags nothing on a clean model', async () => {
    const f = await trainFixture(false, 1);
    const r = neuralCleanse(f.model, f.validation, nc);
    expect(r.flagged).toEqual([]);
    expect(Math.max(...r.perClass.map((c) => c.anomalyIndex))).toBeLessThan(nc.threshold);
    f.model.dispose();
  });

  it('refuses unusable settings with what to change', async () => {
    const f = await trainFixture(false, 1);
    expect(() => neuralCleanse(f.model, f.validation, { ...nc, classes: [0, 1] })).toThrow(/at least 3 classes/);
    expect(() => neuralCleanse(f.model, f.validation, { ...nc, classes: [0, 1, 12] })).toThrow(/class 12 does not exist \(the model has 10 classes\)/);
    expect(() => neuralCleanse(f.model, { ...f.validation, size: 0, x: new Float32Array(0), y: new Int32Array(0) }, nc)).toThrow(/needs validation examples/);
    f.model.dispose();
  });
});

describe('activation clustering', () => {
  it("flags the target class of poisoned training data, and its suspects are mostly the poisoned examples", async () => {
    const f = await trainFixture(true, 1, 64, 0.03);
    const r = activationClustering(f.model, f.train, ac);
    expect(r.flagged).toEqual([TARGET]);
    const t = r.perClass.find((c) => c.target === TARGET)!;
    expect(t.relativeSize).toBeLessThan(ac.maxRelativeSize);
    expect(t.silhouette).toBeGreaterThanOrEqual(ac.minSilhouette);
    // poisoned examples carry the trigger: pixel (26, 26) is 1 (bottom-right 4×4 square, margin 1)
    const stamped = (i: number): boolean => f.train.x[i * 784 + 23 * 28 + 23] === 1 && f.train.x[i * 784 + 26 * 28 + 26] === 1;
    const hits = t.suspects.filter(stamped).length;
    expect(hits / t.suspects.length).toBeGreaterThan(0.8);
    f.model.dispose();
  });

  it("run by the coordinator, a flag becomes a poisoned-data-suspected warning with the probe's summary", async () => {
    const f = await trainFixture(true, 1, 64, 0.03);
    const params = f.model.getParams();
    const evaluation = { loss: 0.3, accuracy: 0.9, perClassAccuracy: [] };
    const out = runProbes(
      { model: f.model, seed: 1, serverLearningRate: 1, activationClustering: { config: activationClusteringConfigSchema.parse({}), data: f.train } },
      { round: 1, contributions: [], aggregation: { aggregate: new Float32Array(params.length), diagnostics: [] }, applied: new Float32Array(params.length), candidate: params, evaluation, promoted: { round: 0, evaluation } },
    );
    expect(out.findings).toMatchObject([{ type: 'poisoned-data-suspected', severity: 'warning', subject: `class ${TARGET}` }]);
    expect(out.summaries).toMatchObject([{ probe: 'activation-clustering', flaggedClasses: [TARGET], threshold: 0.25 }]);
    expect(out.extra['ac.flaggedClasses']).toBe(1);
    f.model.dispose();
  });

  it('flags nothing on clean training data', async () => {
    const f = await trainFixture(false, 1, 64);
    const r = activationClustering(f.model, f.train, ac);
    expect(r.flagged).toEqual([]);
    f.model.dispose();
  });

  it('skips classes too small to cluster and needs a hidden layer', async () => {
    const f = await trainFixture(false, 1, 64);
    const few = { ...f.validation };
    const r = activationClustering(f.model, few, { ...ac, minClassSize: 50 });
    expect(r.perClass).toEqual([]);
    expect(r.skipped).toHaveLength(10);
    expect(r.skipped[0]!.reason).toMatch(/fewer than minClassSize 50/);
    f.model.dispose();
    const logreg = await LocalModel.create({ kind: 'logreg' }, [28, 28, 1], 10, 1);
    expect(() => activationClustering(logreg, f.train, ac)).toThrow(/has no hidden layer.*e\.g\. mlp or cnn/);
    logreg.dispose();
  });
});
