/**
 * Differential-privacy costs: CSPRNG Gaussian noise (ns per value, and the ratio to filling the same
 * Float32Array with a seeded sfc32 normal — the non-secure baseline measured in the same run) for
 * d ∈ {10⁵, 10⁶}, the accountant (ε over the 156 default orders; calibration of z), and one
 * DP-SGD step against one non-private SGD step on the same batch (MLP and CNN, batch 64): ghost /
 * book-keeping clipping, and the naive per-example loop it replaces.
 *
 * Options: --quick (d = 10⁵ only, fewer repetitions).
 */
import { SeededRng } from '../src/core/rng.js';
import { subset } from '../src/data/dataset.js';
import { loadMnist } from '../src/data/mnist.js';
import { initRuntime } from '../src/model/backend.js';
import { LocalModel } from '../src/model/local-model.js';
import type { ModelSpec } from '../src/model/zoo.js';
import { trainDpSgd } from '../src/privacy/dp-sgd.js';
import { calibrateNoiseMultiplier } from '../src/privacy/calibrate.js';
import { RdpAccountant } from '../src/privacy/rdp-accountant.js';
import { gaussianNoise } from '../src/privacy/secure-gaussian.js';
import { timeIt } from './support/timing.js';


export async function run(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  const dims = quick ? [100_000] : [100_000, 1_000_000];
  const reps = quick ? 3 : 10;
  console.log('| noise | d | ms/call | ns/value | × seeded sfc32 normal |');
  console.log('|---|---|---|---|---|');
  for (const d of dims) {
    const rng = SeededRng.from(1, 'bench');
    const base = timeIt(reps, () => {
      const v = new Float32Array(d);
      for (let i = 0; i < d; i++) v[i] = rng.normal();
    });
    const secure = timeIt(reps, () => gaussianNoise(d, 1));
    console.log(`| CSPRNG Box–Muller | ${d} | ${secure.toFixed(1)} | ${((secure * 1e6) / d).toFixed(1)} | ${(secure / base).toFixed(2)} |`);
  }

  const eps = timeIt(reps, () => {
    new RdpAccountant().compose({ noiseMultiplier: 1.1, samplingRate: 0.01, steps: 1000 }).epsilon(1e-5);
  });
  const cal = timeIt(quick ? 1 : 3, () => {
    calibrateNoiseMultiplier({ epsilon: 3, delta: 1e-5, samplingRate: 0.01, steps: 1000 });
  });
  console.log(`\nRDP accountant, 156 default orders: ε in ${eps.toFixed(2)} ms (uncached); calibrate z in ${cal.toFixed(0)} ms`);
  await dpSgdSteps(quick);
}

const median = (xs: number[]): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
};

async function msPerStep(steps: number, run: (steps: number) => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await run(steps);
  return (performance.now() - t0) / steps;
}

async function dpSgdSteps(quick: boolean): Promise<void> {
  const runtime = await initRuntime('auto');
  const batch = 64;
  const { train } = loadMnist();
  const data = subset(train, Array.from({ length: batch }, (_, i) => (i * 797) % train.size), 'bench');
  const cfg = { epochs: 1, batchSize: batch, learningRate: 0.1, optimizer: 'sgd' as const };
  const models: [string, ModelSpec][] = [
    ['MLP 784-128-10', { kind: 'mlp', hidden: [128] }],
    ['CNN (8,16 filters 5×5, dense 64)', { kind: 'cnn', filters: [8, 16], kernelSize: 5, dense: 64 }],
  ];
  const repeats = quick ? 3 : 7;
  console.log(`\nDP-SGD step vs non-private SGD step, batch ${batch} MNIST digits, backend ${runtime.backend}; q = 1 so every step has exactly ${batch} examples; includes batch assembly, CSPRNG noise and the optimizer update. Medians of ${repeats} interleaved repeats (10 steps each; the per-example loop 2 steps):\n`);
  console.log('| model | parameters | SGD ms/step | DP-SGD ghost ms/step | × SGD | DP-SGD per-example loop ms/step | × SGD |');
  console.log('|---|---|---|---|---|---|---|');
  for (const [label, spec] of models) {
    const model = await LocalModel.create(spec, train.featureShape, 10, 'bench');
    const sgdRun = (n: number) => model.train(data, { ...cfg, epochs: n }, SeededRng.from(1));
    const dp = (method: 'ghost' | 'per-example') => (n: number) =>
      trainDpSgd(model, data, cfg, { clipNorm: 1, noiseMultiplier: 1, samplingRate: 1, steps: n, method });
    await sgdRun(1); // warm up
    await dp('ghost')(1);
    await dp('per-example')(1);
    const sgd: number[] = [];
    const ghost: number[] = [];
    const loop: number[] = [];
    for (let r = 0; r < repeats; r++) {
      sgd.push(await msPerStep(10, sgdRun));
      ghost.push(await msPerStep(10, dp('ghost')));
      loop.push(await msPerStep(2, dp('per-example')));
    }
    const [s, g, l] = [median(sgd), median(ghost), median(loop)];
    console.log(`| ${label} | ${model.layout.size} | ${s.toFixed(1)} | ${g.toFixed(1)} | ${(g / s).toFixed(2)} | ${l.toFixed(0)} | ${(l / s).toFixed(1)} |`);
    model.dispose();
  }
}
