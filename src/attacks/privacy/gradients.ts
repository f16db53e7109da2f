/**
 * Parameter gradients as the victim computes them, written so they can themselves be
 * differentiated (the gradient-matching attacks need ∂/∂x of a function of ∂ℓ/∂θ).
 *
 * The loss is softmax cross-entropy with (possibly soft) targets, −mean_i Σ_c t_ic·logsoftmax(z_i)_c:
 * the same value and gradient as tf.losses.softmaxCrossEntropy (what LocalModel trains with), but
 * built on tf.logSoftmax, whose gradient is made of differentiable ops (softmaxCrossEntropy's
 * custom gradient and tf.logSumExp go through Max → Equal, which has no gradient in tfjs 4.22).
 */
import { tf } from '../../model/backend.js';
import { fail } from '../../core/errors.js';
import { flatten } from '../../core/params.js';
import type { Dataset } from '../../data/dataset.js';
import type { LocalModel } from '../../model/local-model.js';
import { outputsProbabilities } from '../../model/zoo.js';
import { ensureSecondOrderGradients } from './second-order.js';

/** −mean over the batch of Σ_c target_c · log softmax(logits)_c. */
export function softCrossEntropy(logits: tf.Tensor, target: tf.Tensor): tf.Scalar {
  return tf.neg(tf.mean(tf.sum(tf.mul(target, tf.logSoftmax(logits)), -1))) as tf.Scalar;
}

/** The model's variables in parameter-layout order (every weight must be trainable). */
export function attackVariables(model: LocalModel): tf.Variable[] {
  if (outputsProbabilities(model.model)) {
    fail('model', 'gradient attacks need a model that outputs logits (no final softmax)', 'remove the softmax activation of the last layer; the loss applies it');
  }
  if (model.model.trainableWeights.length !== model.model.weights.length) {
    fail('model', 'gradient attacks need every weight of the model to be trainable (the parameter layout covers all weights)');
  }
  return model.model.weights.map((w) => w.read() as tf.Variable);
}

/**
 * ∂ℓ/∂θ for inputs x and targets (one-hot or soft), one tensor per parameter in layout order.
 * Differentiable with respect to x and target when called inside tf.grad/tf.grads.
 */
export function parameterGradients(model: LocalModel, x: tf.Tensor, target: tf.Tensor): tf.Tensor[] {
  ensureSecondOrderGradients();
  const vars = attackVariables(model);
  const { value, grads } = tf.variableGrads(() => softCrossEntropy(model.model.apply(x, { training: true }) as tf.Tensor, target), vars);
  value.dispose();
  return vars.map((v) => {
    const g = grads[v.name];
    if (g === undefined) fail('internal', `no gradient for variable ${v.name}`);
    return g;
  });
}

/** The flat gradient (layout order) of the mean loss over the given examples. */
export function flatGradient(model: LocalModel, data: Dataset, indices: readonly number[]): Float32Array {
  const { x, y } = model.batch(data, indices);
  const grads = tf.tidy(() => parameterGradients(model, x, y));
  const parts = grads.map((g) => g.dataSync() as Float32Array);
  tf.dispose([x, y, ...grads]);
  return flatten(model.layout, parts);
}

/** Turn tfjs's missing-gradient error into one that says what to change. */
export function explainGradientError(err: unknown): never {
  const message = err instanceof Error ? err.message : String(err);
  const missing = /gradient function not found for (\w+)/.exec(message);
  if (missing) {
    fail('model', `gradient matching needs second-order gradients, and tfjs has none for the ${missing[1]} op used by this model`,
      'use a model without pooling layers, e.g. victim.kind "lenet" (strided convolutions, as in DLG) or "mlp"');
  }
  throw err;
}
