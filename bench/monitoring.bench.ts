/**
 * Monitoring overhead per round. (1) Signals + detectors (coordinate-wise median, pairwise cosines,
 * sketches) over n updates of d parameters, next to a plain weighted mean of the same updates
 * measured in the same run (ratio column). (2) One Neural Cleanse probe and one activation-clustering
 * probe on the default MLP (784-128-10) at their default sizes.
 *
 * Options: --quick (n ∈ {10, 50}, d ∈ {10⁴, 10⁵}; probes with fewer steps), --no-probes.
 */
import { loadavg } from 'node:os';
import { SeededRng } from '../src/core/rng.js';
import { weightedMean } from '../src/core/vector.js';
import { subset } from '../src/data/dataset.js';
import { loadMnist } from '../src/data/mnist.js';
import { initRuntime } from '../src/model/backend.js';
import { LocalModel } from '../src/model/local-model.js';
import { activationClustering } from '../src/monitoring/activation-clustering.js';
import { detectAnomalies } from '../src/monitoring/anomaly-detectors.js';
import { activationClusteringConfigSchema, detectorsSchema, neuralCleanseConfigSchema } from '../src/monitoring/config.js';
import { neuralCleanse } from '../src/monitoring/neural-cleanse.js';
import { ContributionHistory, computeSignals } from '../src/monitoring/signals.js';

function time(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

/** Best of `reps` runs after one warm-up (JIT, the sketch's hash tables). */
function best(fn: () => void, reps = 3): number {
  fn();
  return Math.min(...Array.from({ length: reps }, () => time(fn)));
}

export async function run(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  console.log(`load average ${loadavg()[0]!.toFixed(1)} (times below are wall clock on a shared machine)\n`);
  console.log('| n | d | weighted mean (ms) | signals + detectors (ms) | ratio |\n|---|---|---|---|---|');
  const cfg = detectorsSchema.parse({});
  for (const n of quick ? [10, 50] : [10, 50, 100]) {
    for (const d of quick ? [10_000, 100_000] : [100_000, 1_000_000]) {
      const rng = SeededRng.from('bench-monitoring', n, d);
      const updates = Array.from({ length: n }, () => Float32Array.from({ length: d }, () => rng.normal()));
      const contributions = updates.map((update, k) => ({ id: `p${k}`, update, weight: 100 }));
      const weights = contributions.map((c) => c.weight);
      let aggregate = weightedMean(updates, weights);
      const meanMs = best(() => {
        aggregate = weightedMean(updates, weights);
      });
      const history = new ContributionHistory();
      const ev = { loss: 0.3, accuracy: 0.9, perClassAccuracy: [0.9] };
      const monitorMs = best(() => {
        const s = computeSignals({ round: 1, contributions, aggregate, diagnostics: [], evaluation: ev, baseline: ev, baselineRound: 0 }, history, cfg.minHistory);
        detectAnomalies(s, cfg);
      });
      console.log(`| ${n} | ${d.toExponential(0)} | ${meanMs.toFixed(1)} | ${monitorMs.toFixed(1)} | ${(monitorMs / Math.max(meanMs, 1e-3)).toFixed(1)}× |`);
    }
  }
  if (args.includes('--no-probes')) return;

  const runtime = await initRuntime('auto');
  const { train, test } = loadMnist();
  const model = await LocalModel.create({ kind: 'mlp', hidden: [128] }, train.featureShape, train.numClasses, 1);
  await model.train(subset(train, Array.from({ length: 2000 }, (_, i) => i * 4)), { epochs: 2, batchSize: 32, learningRate: 0.1, optimizer: 'sgd' }, SeededRng.from(1));
  const nc = neuralCleanseConfigSchema.parse(quick ? { steps: 30 } : {});
  const ac = activationClusteringConfigSchema.parse({});
  const ncData = subset(test, Array.from({ length: nc.samples }, (_, i) => i * 17));
  const acData = subset(test, Array.from({ length: ac.samples }, (_, i) => i * 2));
  const ncMs = time(() => {
    neuralCleanse(model, ncData, { ...nc, seed: 1 });
  });
  const acMs = time(() => {
    activationClustering(model, acData, { ...ac, seed: 1 });
  });
  console.log(`\nprobes on MLP 784-128-10 (${runtime.backend}):`);
  console.log(`- Neural Cleanse, 10 classes × ${nc.steps} steps × ${nc.samples} examples: ${(ncMs / 1000).toFixed(1)} s`);
  console.log(`- activation clustering, ${ac.samples} examples, ${ac.components} components: ${(acMs / 1000).toFixed(2)} s`);
  model.dispose();
}
