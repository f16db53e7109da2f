/**
 * Second-order gradients for gradient-matching attacks (DLG/iDLG): the attack differentiates a
 * loss that itself contains ∂ℓ/∂θ, so every op on the path of the *first* backward pass needs a
 * gradient of its own. tfjs 4.22 nests tapes (a gradient computed inside `tf.grad` is recorded on
 * the outer tape), and most ops used by dense/conv nets qualify: MatMul, Add, Mul, Sigmoid
 * (grad y·(1−y) on the saved output), Tanh, Relu (Step; its second derivative is 0 almost
 * everywhere), Reshape, Sum, LogSoftmax (custom gradient written in differentiable ops),
 * Conv2D's input gradient (Conv2DBackpropInput has a registered gradient).
 *
 * Missing in tfjs-core 4.22 (measured, "gradient function not found for …"):
 *  - Conv2DBackpropFilter — registered here (below);
 *  - MaxPoolGrad, and Equal (used by Max's gradient, hence by `tf.max`/`tf.logSumExp`): models or
 *    losses that use them cannot be attacked by gradient matching; use strided convolutions
 *    instead of pooling (as DLG's LeNet does) and `tf.logSoftmax` for the loss.
 *
 * Conv2DBackpropFilter(x, dy) = ∂⟨dy, conv(x, W)⟩/∂W is bilinear in (x, dy) and satisfies
 * ⟨G, BF(x, dy)⟩ = ⟨dy, conv(x, G)⟩, hence for an upstream gradient G (filter-shaped):
 *   ∂/∂dy = conv(x, G)        ∂/∂x = conv2dTranspose(dy, G) (= Conv2DBackpropInput(x.shape, dy, G)).
 * Checked against finite differences in test/leakage/second-order.test.ts.
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
