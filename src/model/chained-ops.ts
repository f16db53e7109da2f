/**
 * Method-style tensor ops (`t.flatten()`, `t.reshape(…)`, …). The full @tensorflow/tfjs package
 * installs them; tfjs-core's Node bundle alone does not, and tfjs-layers calls a few internally
 * (e.g. the orthogonal initializer of LSTM/GRU calls `.flatten()`), failing with
 * "x.flatten is not a function". We install the standard set, each delegating to the functional
 * op of the same name; methods that already exist are left alone.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Methods m(...args) ≡ tf[m](this, ...args). */
const SAME_NAME = [
  'abs', 'acos', 'acosh', 'add', 'all', 'any', 'argMax', 'argMin', 'asin', 'asinh', 'atan', 'atan2', 'atanh',
  'avgPool', 'batchToSpaceND', 'batchNorm', 'broadcastTo', 'cast', 'ceil', 'clipByValue', 'conv1d', 'conv2d',
  'conv2dTranspose', 'cos', 'cosh', 'cumprod', 'cumsum', 'depthToSpace', 'depthwiseConv2d', 'dilation2d', 'div',
  'divNoNan', 'dot', 'elu', 'equal', 'erf', 'euclideanNorm', 'exp', 'expandDims', 'expm1', 'fft', 'floor',
  'floorDiv', 'gather', 'greater', 'greaterEqual', 'ifft', 'irfft', 'isFinite', 'isInf', 'isNaN', 'leakyRelu',
  'less', 'lessEqual', 'localResponseNormalization', 'log', 'log1p', 'logSigmoid', 'logSoftmax', 'logSumExp',
  'logicalAnd', 'logicalNot', 'logicalOr', 'logicalXor', 'matMul', 'max', 'maxPool', 'maximum', 'mean', 'min',
  'minimum', 'mirrorPad', 'mod', 'mul', 'neg', 'norm', 'notEqual', 'oneHot', 'onesLike', 'pad', 'pool', 'pow',
  'prelu', 'prod', 'reciprocal', 'relu', 'relu6', 'reshape', 'resizeBilinear', 'resizeNearestNeighbor', 'reverse',
  'rfft', 'round', 'rsqrt', 'selu', 'separableConv2d', 'sigmoid', 'sign', 'sin', 'sinh', 'slice', 'softmax',
  'softplus', 'spaceToBatchND', 'split', 'sqrt', 'square', 'squaredDifference', 'squeeze', 'step', 'stridedSlice',
  'sub', 'sum', 'tan', 'tanh', 'tile', 'topk', 'transpose', 'unique', 'unsortedSegmentSum', 'unstack', 'zerosLike',
] as const;

type Method = (this: tf.Tensor, ...args: unknown[]) => unknown;

function special(): Record<string, Method> {
  const reshapeTo = (shape: (t: tf.Tensor, args: unknown[]) => number[]): Method =>
    function (this: tf.Tensor, ...args: unknown[]) {
      return tf.reshape(this, shape(this, args));
    };
  const castTo = (dtype: tf.DataType): Method => function (this: tf.Tensor) {
    return tf.cast(this, dtype);
  };
  const dims = (t: tf.Tensor, args: unknown[]): number[] => args as number[];
  return {
    flatten: reshapeTo((t) => [t.size]),
    as1D: reshapeTo((t) => [t.size]),
    as2D: reshapeTo(dims),
    as3D: reshapeTo(dims),
    as4D: reshapeTo(dims),
    as5D: reshapeTo(dims),
    asScalar: reshapeTo((t) => {
      if (t.size !== 1) throw new Error('asScalar: the tensor must have exactly 1 element');
      return [];
    }),
    reshapeAs: reshapeTo((_t, args) => (args[0] as tf.Tensor).shape),
    asType: function (this: tf.Tensor, dtype: unknown) {
      return tf.cast(this, dtype as tf.DataType);
    },
    toBool: castTo('bool'),
    toFloat: castTo('float32'),
    toInt: castTo('int32'),
    concat: function (this: tf.Tensor, x: unknown, axis: unknown) {
      return tf.concat([this, ...(x instanceof tf.Tensor ? [x] : (x as tf.Tensor[]))], axis as number | undefined);
    },
    stack: function (this: tf.Tensor, x: unknown, axis: unknown) {
      return tf.stack([this, ...(x instanceof tf.Tensor ? [x] : (x as tf.Tensor[]))], axis as number | undefined);
    },
    where: function (this: tf.Tensor, condition: unknown, x: unknown) {
      return tf.where(condition as tf.Tensor, this, x as tf.Tensor);
    },
  };
}

/** Installs the missing tensor methods (idempotent); returns how many were added. */
export function installChainedOps(): number {
  const proto = tf.Tensor.prototype as unknown as Record<string, unknown>;
  const ops = tf as unknown as Record<string, unknown>;
  let added = 0;
  const install = (name: string, method: Method): void => {
    if (name in proto) return;
    proto[name] = function (this: tf.Tensor, ...args: unknown[]) {
      this.throwIfDisposed();
      return method.apply(this, args);
    };
    added++;
  };
  for (const name of SAME_NAME) {
    const op = ops[name];
    if (typeof op !== 'function') continue;
    install(name, function (this: tf.Tensor, ...args: unknown[]) {
      return (op as (...a: unknown[]) => unknown)(this, ...args);
    });
  }
  for (const [name, method] of Object.entries(special())) install(name, method);
  return added;
}
