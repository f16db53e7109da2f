/**
 * Cost of gradient-matching attacks: one evaluation of the DLG objective (forward, parameter
 * gradient, and the gradient of the matching loss with respect to the dummy input — a double
 * backward) against one plain parameter gradient on the same model and batch (the baseline,
 * measured in the same run), for DLG's LeNet and a sigmoid MLP at B = 1 and 8; plus the
 * analytic first-layer recovery (pure JS) on fedsec's MLP.
 *
 * Options: --quick (fewer repetitions).
 */
import { SeededRng } from '../src/core/rng.js';
import { loadMnist } from '../src/data/mnist.js';
import { initRuntime } from '../src/model/backend.js';
import { analyticRecovery } from '../src/attacks/privacy/analytic-recovery.js';
import { invertGradient } from '../src/attacks/privacy/gradient-inversion.js';
import { flatGradient } from '../src/attacks/privacy/gradients.js';
import { buildVictimModel, describeVictim, type VictimModelSpec } from '../src/attacks/privacy/victim-models.js';
import { timeIt } from './support/timing.js';


export async function run(args: string[]): Promise<void> {
  const quick = args.includes('--quick');
  const reps = quick ? 3 : 10;
  await initRuntime('wasm');
  const { train } = loadMnist();
  const victims: VictimModelSpec[] = [
    { kind: 'lenet', channels: 12, activation: 'sigmoid' },
    { kind: 'mlp', hidden: [256], activation: 'sigmoid' },
  ];
  console.log('| victim | B | ms / parameter gradient | ms / DLG objective + ∂/∂x (incl. per-call setup) | ratio |');
  console.log('|---|---|---|---|---|');
  for (const spec of victims) {
    const model = await buildVictimModel(spec, train.featureShape, 10, 'bench');
    for (const b of [1, 8]) {
      const idx = Array.from({ length: b }, (_, i) => i);
      const g = flatGradient(model, train, idx);
      const base = timeIt(reps, () => flatGradient(model, train, idx));
      // maxIterations 1 with maxEvaluations 1: exactly one objective evaluation after the start point.
      const attack = timeIt(reps, () => {
        invertGradient(model, g, { batchSize: b, labels: idx.map((i) => train.y[i]!), distance: 'scaled-l2', tv: 0, optimizer: { kind: 'adam', iterations: 1, learningRate: 0.1 }, rng: SeededRng.from(1) });
      }) / 2; // Adam with 1 iteration evaluates the objective twice (step + final check)
      console.log(`| ${describeVictim(spec)} | ${b} | ${base.toFixed(1)} | ${attack.toFixed(1)} | ${(attack / base).toFixed(1)}× |`);
    }
    model.dispose();
  }
  const mlp = await buildVictimModel({ kind: 'zoo', spec: { kind: 'mlp', hidden: [128] } }, train.featureShape, 10, 'bench');
  const g = flatGradient(mlp, train, Array.from({ length: 8 }, (_, i) => i));
  const ms = timeIt(reps, () => analyticRecovery(g, mlp.layout, 784, 8));
  console.log(`\nanalytic recovery (zoo MLP 784-128-10, B = 8): ${ms.toFixed(1)} ms`);
  mlp.dispose();
}
