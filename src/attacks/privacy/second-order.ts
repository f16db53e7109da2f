/**
 * Second-order gradients for gradient-matching attacks (DLG/iDLG): the attack differentiates a
 * loss that itself contains ∂ℓ/∂θ, so every op on the path of the *first* backward pass needs a
 * gradient that tfjs 4.22 can differentiate again. tfjs nests tapes (a gradient computed inside
 * `tf.grad` is recorded on the outer tape), but three things break on the way (all measured):
 *
 *  1. Ops whose registered gradient uses their saved *output* (Sigmoid, Tanh, Exp, …) lose the
 *     second-order term through that output: the engine records the clone that saves the output
 *     *before* the op that produces it, so the outer backward pass reaches the clone after it has
 *     already passed the producing op (∂/∂x of x·exp(wx) came out as exp(wx), the x·w·exp(wx)
 *     term missing). `sigmoid2`, `tanh2` and `exp2` below save their *input* instead and
 *     recompute the derivative from it, which the tape orders correctly.
 *  2. customGrad ops (tfjs-layers' fused Dense, logSoftmax, softmaxCrossEntropy) save clones of
 *     values computed in their untaped forward function — constants to a second differentiation.
 *     gradients.ts therefore replays the model from primitive ops.
 *  3. Missing gradients: Conv2DBackpropFilter (registered below); MaxPoolGrad and AvgPoolGrad
 *     (no fix: use strided convolutions, as DLG's LeNet does); Equal, used by Max's gradient.
 *
 * Conv2DBackpropFilter(x, dy) = ∂⟨dy, conv(x, W)⟩/∂W is bilinear in (x, dy) and satisfies
 * ⟨G, BF(x, dy)⟩ = ⟨dy, conv(x, G)⟩, hence for an upstream gradient G (filter-shaped):
 *   ∂/∂dy = conv(x, G)        ∂/∂x = conv2dTranspose(dy, G) (= Conv2DBackpropInput(x.shape, dy, G)).
 * All of it is checked against finite differences in test/leakage/second-order.test.ts.
 */
import { tf } from '../../model/backend.js';
import { fail } from '../../core/errors.js';

const KERNEL = 'Conv2DBackpropFilter';

interface BackpropFilterAttrs {
  readonly strides: [number, number] | number;
  readonly pad: 'valid' | 'same' | number;
  readonly dataFormat: 'NHWC' | 'NCHW';
  readonly dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

/** Registers the gradients gradient matching needs and tfjs lacks; idempotent, process-wide. */
export function ensureSecondOrderGradients(): void {
  if (tf.getGradient(KERNEL) !== undefined) return;
  tf.registerGradient({
    kernelName: KERNEL,
    inputsToSave: ['x', 'dy'],
    gradFunc: (ddw, saved, attrs) => {
      const [x, dy] = saved as [tf.Tensor4D, tf.Tensor4D];
      const a = attrs as unknown as BackpropFilterAttrs;
      if (a.dataFormat !== 'NHWC') fail('model', 'second-order conv gradients support channels-last (NHWC) data only');
      const g = ddw as tf.Tensor4D;
      return {
        x: () => tf.conv2dTranspose(dy, g, x.shape, a.strides, a.pad, a.dimRoundingMode),
        dy: () => tf.conv2d(x, g, a.strides, a.pad, 'NHWC', 1, a.dimRoundingMode),
      };
    },
  });
}

/** An elementwise op whose gradient is recomputed from its saved input (see 1. above). */
function viaInput(forward: (x: tf.Tensor) => tf.Tensor, derivative: (x: tf.Tensor) => tf.Tensor): (x: tf.Tensor) => tf.Tensor {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
    save([x]);
    return { value: forward(x), gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, derivative(saved[0]!)) };
  });
  return (x) => op(x) as tf.Tensor;
}

/** σ(x), twice differentiable through tfjs's tape. */
export const sigmoid2 = viaInput(tf.sigmoid, (x) => {
  const s = tf.sigmoid(x);
  return tf.mul(s, tf.sub(1, s));
});

/** tanh(x), twice differentiable through tfjs's tape. */
export const tanh2 = viaInput(tf.tanh, (x) => tf.sub(1, tf.square(tf.tanh(x))));

/** exp(x), twice differentiable through tfjs's tape. */
export const exp2 = viaInput(tf.exp, tf.exp);
