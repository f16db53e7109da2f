/**
 * Tiny real models for the probe tests: an MLP trained for a few epochs on 1,500 MNIST digits,
 * clean or with the red team's pixel backdoor (10% of the examples stamped and relabelled).
 */
import { backdoor, type Trigger } from '../../src/attacks/backdoor.js';
import { SeededRng } from '../../src/core/rng.js';
import type { Dataset } from '../../src/data/dataset.js';
import { subset } from '../../src/data/dataset.js';
import { loadMnist } from '../../src/data/mnist.js';
import { initRuntime } from '../../src/model/backend.js';
import { LocalModel } from '../../src/model/local-model.js';

export const TARGET = 7;
/** The red team's default trigger: a white 4×4 square one pixel from the bottom-right corner. */
export const TRIGGER: Trigger = { size: 4, position: 'bottom-right', margin: 1, value: 1 };

export interface Fixture {
  readonly model: LocalModel;
  readonly train: Dataset;
  readonly validation: Dataset;
  readonly test: Dataset;
}

export async function trainFixture(poisoned: boolean, seed = 1, hidden = 32, poisonFraction = 0.1): Promise<Fixture> {
  await initRuntime('auto');
  const { train, test } = loadMnist();
  const rng = SeededRng.from(seed, 'fixture');
  const clean = subset(train, rng.sampleIndices(train.size, 1500).sort((a, b) => a - b));
  const data = poisoned
    ? backdoor({ targetLabel: TARGET, trigger: TRIGGER, poisonFraction, mode: 'replace', boost: 1, serverLearningRate: 1 }).poison(clean, rng.fork('poison'))
    : clean;
  const model = await LocalModel.create({ kind: 'mlp', hidden: [hidden] }, train.featureShape, train.numClasses, seed);
  await model.train(data, { epochs: 6, batchSize: 32, learningRate: 0.1, optimizer: 'sgd' }, rng.fork('train'));
  return { model, train: data, validation: subset(test, rng.fork('val').sampleIndices(test.size, 100)), test };
}
