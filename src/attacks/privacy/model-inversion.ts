/**
 * Model inversion (Fredrikson, Jha & Ristenpart 2015, "Model inversion attacks that exploit
 * confidence information"): with white-box access to a classifier, search for the input the model
 * is most confident belongs to class c, by gradient descent on a cost of the confidence — MI-FACE
 * uses 1 − p_c(x); −log p_c(x) (cross-entropy) keeps a gradient once p_c saturates — plus an
 * optional total-variation prior, with the pixels kept in [0, 1] (Adam + projection). The result
 * is a class representative, not a training example; it is scored against the mean image of the
 * class in the model's training data.
 */
import { tf } from '../../model/backend.js';
import { fail } from '../../core/errors.js';
import type { Dataset } from '../../data/dataset.js';
import { featureSize } from '../../data/dataset.js';
import type { LocalModel } from '../../model/local-model.js';
import { cosineSimilarity } from './image-metrics.js';
import { minimizeAdam } from './minimize.js';

export interface ModelInversionOptions {
  readonly iterations: number;
  readonly learningRate: number;
  readonly cost: 'one-minus-p' | 'cross-entropy';
  /** Weight of the total-variation prior (0 = none). */
  readonly tv: number;
  /** Constant start value for every pixel (default 0: a blank image). */
  readonly start?: number;
}

export interface ModelInversionResult {
  readonly image: Float32Array;
  /** p_c of the final image. */
  readonly confidence: number;
  readonly iterations: number;
}

export function invertClass(model: LocalModel, cls: number, options: ModelInversionOptions): ModelInversionResult {
  const C = model.numClasses;
  if (!Number.isInteger(cls) || cls < 0 || cls >= C) fail('config', `class ${cls} is not one of the model's ${C} classes`);
  const shape = model.featureShape;
  const F = shape.reduce((p, d) => p * d, 1);
  if (options.tv > 0 && shape.length !== 3) fail('config', 'the total-variation prior needs image inputs', 'set tv: 0 for tabular data');
  const onehot = tf.tidy(() => tf.oneHot(tf.tensor1d([cls], 'int32'), C));
  const cost = (x: tf.Tensor): tf.Scalar => {
    const logp = tf.logSoftmax(model.model.apply(x, { training: false }) as tf.Tensor);
    const logpc = tf.sum(tf.mul(logp, onehot));
    let c: tf.Scalar = (options.cost === 'cross-entropy' ? tf.neg(logpc) : tf.sub(1, tf.exp(logpc))) as tf.Scalar;
    if (options.tv > 0) {
      const [, h, w] = x.shape as [number, number, number, number];
      const dy = tf.sub(tf.slice(x, [0, 1, 0, 0], [-1, h - 1, -1, -1]), tf.slice(x, [0, 0, 0, 0], [-1, h - 1, -1, -1]));
      const dx = tf.sub(tf.slice(x, [0, 0, 1, 0], [-1, -1, w - 1, -1]), tf.slice(x, [0, 0, 0, 0], [-1, -1, w - 1, -1]));
      c = tf.add(c, tf.mul(options.tv, tf.add(tf.mean(tf.abs(dy)), tf.mean(tf.abs(dx))))) as tf.Scalar;
    }
    return c;
  };
  try {
    const result = minimizeAdam(
      (z) => {
        const [v, g] = tf.tidy(() => {
          const x = tf.tensor(Float32Array.from(z), [1, ...shape]);
          const { value, grad } = tf.valueAndGrad(cost)(x);
          return [value, grad];
        });
        const f = v.dataSync()[0]!;
        const grad = Float64Array.from(g.dataSync());
        tf.dispose([v, g]);
        return { f, g: grad };
      },
      new Float64Array(F).fill(options.start ?? 0),
      {
        iterations: options.iterations,
        learningRate: options.learningRate,
        project: (z) => {
          for (let i = 0; i < z.length; i++) z[i] = Math.min(1, Math.max(0, z[i]!));
        },
      },
    );
    const image = Float32Array.from(result.x);
    const confidence = tf.tidy(() => tf.softmax(model.model.apply(tf.tensor(image, [1, ...shape]), { training: false }) as tf.Tensor).dataSync()[cls]!);
    return { image, confidence, iterations: result.iterations };
  } finally {
    onehot.dispose();
  }
}

/** Mean image of each class in a dataset (NaN-free: an absent class gets zeros and count 0). */
export function classMeans(data: Dataset): { means: Float32Array[]; counts: number[] } {
  const f = featureSize(data);
  const sums = Array.from({ length: data.numClasses }, () => new Float64Array(f));
  const counts = new Array<number>(data.numClasses).fill(0);
  for (let i = 0; i < data.size; i++) {
    const c = data.y[i]!;
    counts[c]!++;
    const s = sums[c]!;
    for (let k = 0; k < f; k++) s[k]! += data.x[i * f + k]!;
  }
  return { means: sums.map((s, c) => Float32Array.from(s, (v) => (counts[c]! > 0 ? v / counts[c]! : 0))), counts };
}

/** The class whose mean image is most cosine-similar to `image`. */
export function nearestClassMean(image: Float32Array, means: readonly Float32Array[]): number {
  let best = 0;
  let bestSim = -Infinity;
  means.forEach((m, c) => {
    const s = cosineSimilarity(image, m);
    if (s > bestSim) {
      bestSim = s;
      best = c;
    }
  });
  return best;
}
