/**
 * Parameter gradients as the victim computes them, written so they can themselves be
 * differentiated (the gradient-matching attacks need ∂/∂x of a function of ∂ℓ/∂θ).
 *
 * `model.apply` and tf.losses.softmaxCrossEntropy cannot be used for that in tfjs 4.22 (see
 * second-order.ts: fused Dense layers, logSoftmax and the output-saving activations all drop
 * second-order terms — measured: ∂/∂x of a gradient-matching loss off by 70%). So the forward
 * pass is replayed layer by layer from primitive kernels (MatMul, Conv2D, Add, Relu, Reshape) and
 * the twice-differentiable sigmoid2/tanh2/exp2, and the loss is
 *   −mean_i Σ_c t_ic · (z_ic − m_i − log Σ_k exp(z_ik − m_i)),
 * with the shift m_i = max_k z_ik read back as a constant (log-sum-exp is shift-invariant, so its
 * derivatives do not depend on m; tf.max's own gradient uses Equal, which has none). Value and
 * gradient equal those of LocalModel's loss. Checked against float64 finite differences in
 * test/leakage/second-order.test.ts.
 */
import { tf } from '../../model/backend.js';
import { fail } from '../../core/errors.js';
import { flatten } from '../../core/params.js';
import type { Dataset } from '../../data/dataset.js';
import type { LocalModel } from '../../model/local-model.js';
import { outputsProbabilities } from '../../model/zoo.js';
import { ensureSecondOrderGradients, exp2, sigmoid2, tanh2 } from './second-order.js';

/** −mean over the batch of Σ_c target_c · log softmax(logits)_c, twice differentiable. */
export function softCrossEntropy(logits: tf.Tensor, target: tf.Tensor): tf.Scalar {
  const shift = tf.tidy(() => tf.max(logits, -1, true));
  const m = tf.tensor(shift.dataSync(), shift.shape);
  shift.dispose();
  const shifted = tf.sub(logits, m);
  const logp = tf.sub(shifted, tf.log(tf.sum(exp2(shifted), -1, true)));
  return tf.neg(tf.mean(tf.sum(tf.mul(target, logp), -1))) as tf.Scalar;
}

type Activation = (x: tf.Tensor) => tf.Tensor;

const ACTIVATIONS: Readonly<Record<string, Activation>> = {
  linear: (x) => x,
  relu: (x) => tf.relu(x),
  sigmoid: sigmoid2,
  tanh: tanh2,
};

interface LayerConfig {
  activation?: unknown;
  padding?: unknown;
  strides?: unknown;
  dilationRate?: unknown;
  dataFormat?: unknown;
  useBias?: unknown;
  targetShape?: unknown;
}

const unsupported = (what: string): never =>
  fail('model', `gradient matching cannot replay ${what} with second-order gradients in tfjs`,
    'use a Sequential model of Dense/Conv2D (linear, relu, sigmoid or tanh) and Flatten layers, e.g. victim.kind "lenet" or "mlp"');

/** The model's logits for x, replayed from primitive ops (see the module comment). */
export function forwardLogits(model: LocalModel, x: tf.Tensor): tf.Tensor {
  const net = model.model;
  if (net.getClassName() !== 'Sequential') unsupported(`a ${net.getClassName()} model (Sequential only)`);
  let h = x;
  for (const layer of net.layers) {
    const cls = layer.getClassName();
    const cfg = layer.getConfig() as LayerConfig;
    const act = (): Activation => {
      const name = typeof cfg.activation === 'string' ? cfg.activation : 'linear';
      return ACTIVATIONS[name] ?? unsupported(`activation "${name}" of layer ${layer.name}`);
    };
    const weight = (suffix: string): tf.Tensor | undefined => layer.weights.find((w) => w.originalName.endsWith(suffix))?.read();
    switch (cls) {
      case 'InputLayer':
      case 'Dropout':
        break;
      case 'Flatten':
        h = tf.reshape(h, [h.shape[0]!, -1]);
        break;
      case 'Reshape':
        h = tf.reshape(h, [h.shape[0]!, ...(cfg.targetShape as number[])]);
        break;
      case 'Activation':
        h = act()(h);
        break;
      case 'Dense': {
        const kernel = weight('/kernel');
        if (!kernel || h.rank !== 2) unsupported(`Dense layer ${layer.name} on rank-${h.rank} input`);
        const bias = weight('/bias');
        const z = tf.matMul(h as tf.Tensor2D, kernel as tf.Tensor2D);
        h = act()(bias ? tf.add(z, bias) : z);
        break;
      }
      case 'Conv2D': {
        const kernel = weight('/kernel');
        const strides = Array.isArray(cfg.strides) ? (cfg.strides as [number, number]) : [Number(cfg.strides ?? 1), Number(cfg.strides ?? 1)] as [number, number];
        const dil = Array.isArray(cfg.dilationRate) ? (cfg.dilationRate as number[]) : [Number(cfg.dilationRate ?? 1)];
        if (!kernel || cfg.dataFormat !== 'channelsLast' || dil.some((d) => d !== 1) || (cfg.padding !== 'same' && cfg.padding !== 'valid')) {
          unsupported(`Conv2D layer ${layer.name} (channels-last, 'same'/'valid' padding and dilation 1 only)`);
        }
        const bias = weight('/bias');
        const z = tf.conv2d(h as tf.Tensor4D, kernel as tf.Tensor4D, strides, cfg.padding as 'same' | 'valid');
        h = act()(bias ? tf.add(z, bias) : z);
        break;
      }
      default:
        unsupported(`layer ${layer.name} (${cls}${/Pool/.test(cls) ? ': tfjs has no gradient of the pooling gradient' : ''})`);
    }
  }
  return h;
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
  const { value, grads } = tf.variableGrads(() => softCrossEntropy(forwardLogits(model, x), target), vars);
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
  if (/Cannot compute gradient of y=f\(x\)/.test(message)) {
    fail('internal', 'gradient matching lost the connection between the input and the parameter gradients (an op without second-order support)', 'report the model architecture');
  }
  throw err;
}
