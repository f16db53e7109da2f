/**
 * Σ_i clip_C(∇ℓ_i): the sum of per-example gradients, each clipped to L2 norm C — the quantity
 * DP-SGD (Abadi et al. 2016) noises. Two ways to compute it:
 *
 * 'ghost' — one forward and one backward pass, no per-example weight gradient for dense layers.
 *   The forward pass is replayed layer by layer with a zero "probe" added to each dense/conv
 *   pre-activation z = a·W + b, so the backward pass returns g_i = ∂ℓ_i/∂z_i for every example.
 *   Dense layer (Goodfellow 2015; "ghost clipping", Li et al. 2022): ‖∇_W ℓ_i‖² = ‖a_i‖²·‖g_i‖²,
 *   ‖∇_b ℓ_i‖² = ‖g_i‖². Conv layer: the per-example kernel gradient is small (k²·c_in × c_out), so
 *   it is formed directly as unfold(a_i)ᵀ·g_i (im2col patches) — one batched matmul, not a
 *   loop over examples. With w_i = min(1, C/‖∇ℓ_i‖) the clipped sum is
 *   then the gradient of Σ_i w_i·ℓ_i; instead of a second backward pass for it we reuse the stored
 *   a and g ("book-keeping", Bu et al. 2023): ∇_W = Aᵀ·diag(w)·G, ∇_b = Σ_i w_i g_i, and for conv
 *   Σ_i w_i·(per-example kernel gradient). Supported: Sequential models of Dense (rank-2 input) and
 *   Conv2D (channelsLast, 'same'/'valid') with a standard activation, plus weight-free,
 *   deterministic layers in between (flatten, pooling, reshape, …).
 *
 * 'per-example' — the reference: one backward pass per example through `model.apply`. Used for
 *   every other model (and to test 'ghost' against).
 *
 * Clipping uses C·(1 − 1e-4): the norms are float32 computations, and the margin keeps the clipped
 * per-example norm ≤ C despite their rounding (measured discrepancy ~1e-6 relative).
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { fail } from '../core/errors.js';
import type { LocalModel } from '../model/local-model.js';
import { outputsProbabilities } from '../model/zoo.js';

export type ClipMethod = 'ghost' | 'per-example';

export interface ClippedGradientSum {
  /** Σ_i min(1, C/‖∇ℓ_i‖)·∇ℓ_i, one tensor per trainable variable (model order); caller disposes. */
  readonly sum: tf.Tensor[];
  /** ‖∇ℓ_i‖ per example (before clipping). */
  readonly norms: Float32Array;
  readonly method: ClipMethod;
}

const CLIP_MARGIN = 1e-4;

type Activation = (x: tf.Tensor) => tf.Tensor;

const ACTIVATIONS: Readonly<Record<string, Activation>> = {
  linear: (x) => x,
  relu: (x) => tf.relu(x),
  relu6: (x) => tf.relu6(x),
  elu: (x) => tf.elu(x),
  selu: (x) => tf.selu(x),
  sigmoid: (x) => tf.sigmoid(x),
  tanh: (x) => tf.tanh(x),
  softplus: (x) => tf.softplus(x),
  softmax: (x) => tf.softmax(x),
};

/** Weight-free layers whose training-mode forward pass is deterministic (no dropout/noise). */
const PASS_THROUGH = new Set([
  'Flatten', 'Reshape', 'Permute', 'Activation', 'ReLU', 'MaxPooling1D', 'MaxPooling2D', 'AveragePooling1D',
  'AveragePooling2D', 'GlobalAveragePooling1D', 'GlobalAveragePooling2D', 'GlobalMaxPooling1D', 'GlobalMaxPooling2D',
  'ZeroPadding2D', 'InputLayer',
]);

interface ParamStep {
  readonly kind: 'dense' | 'conv2d';
  readonly kernel: tf.Variable;
  readonly bias: tf.Variable | undefined;
  readonly activation: Activation;
  /** Output shape without the batch dimension. */
  readonly outShape: readonly number[];
  readonly strides: [number, number];
  readonly padding: 'same' | 'valid';
  readonly dilations: [number, number];
}

type Step = ParamStep | { readonly kind: 'pass'; readonly layer: tfl.layers.Layer };

interface GhostPlan {
  readonly steps: readonly Step[];
  readonly params: readonly ParamStep[];
}

interface LayerConfig {
  activation?: unknown;
  padding?: unknown;
  strides?: unknown;
  dilationRate?: unknown;
  dataFormat?: unknown;
}

const pair = (v: unknown): [number, number] | undefined => {
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((e) => typeof e === 'number')) return [v[0] as number, v[1] as number];
  return undefined;
};

const plans = new WeakMap<tfl.LayersModel, GhostPlan | string>();

/** The ghost-clipping plan for a model, or why it is not supported (cached per model). */
function ghostPlan(model: tfl.LayersModel): GhostPlan | string {
  const cached = plans.get(model);
  if (cached !== undefined) return cached;
  const plan = buildPlan(model);
  plans.set(model, plan);
  return plan;
}

function buildPlan(model: tfl.LayersModel): GhostPlan | string {
  if (model.getClassName() !== 'Sequential') return `${model.getClassName()} models are not supported (Sequential only)`;
  const steps: Step[] = [];
  const covered = new Set<tf.Variable>();
  let inShape: readonly (number | null)[] | undefined = model.inputs[0]?.shape;
  for (const layer of model.layers) {
    const layerIn = inShape;
    const outShape = layer.outputShape;
    inShape = Array.isArray(outShape) && !outShape.some((d) => Array.isArray(d)) ? (outShape as (number | null)[]) : undefined;
    const cls = layer.getClassName();
    if (layer.weights.length === 0) {
      if (!PASS_THROUGH.has(cls)) return `layer ${layer.name} (${cls}) is not known to be deterministic and weight-free`;
      steps.push({ kind: 'pass', layer });
      continue;
    }
    if (cls !== 'Dense' && cls !== 'Conv2D') return `layer ${layer.name} (${cls}) has weights and no per-example norm rule`;
    if (layer.nonTrainableWeights.length > 0) return `layer ${layer.name} has non-trainable weights`;
    const cfg = layer.getConfig() as LayerConfig;
    const activation = typeof cfg.activation === 'string' ? ACTIVATIONS[cfg.activation] : undefined;
    if (!activation) return `layer ${layer.name} has activation ${String(cfg.activation)}`;
    const kernel = layer.trainableWeights.find((w) => w.originalName.endsWith('/kernel'))?.read() as tf.Variable | undefined;
    const bias = layer.trainableWeights.find((w) => w.originalName.endsWith('/bias'))?.read() as tf.Variable | undefined;
    if (!kernel || layer.trainableWeights.length !== (bias ? 2 : 1)) return `layer ${layer.name} has unexpected weights`;
    if (!inShape) return `layer ${layer.name} has several outputs`;
    const out = inShape.slice(1);
    if (out.some((d) => d === null)) return `layer ${layer.name} has a dynamic output shape`;
    let strides: [number, number] = [1, 1];
    let dilations: [number, number] = [1, 1];
    let padding: 'same' | 'valid' = 'valid';
    if (cls === 'Dense') {
      if (layerIn?.length !== 2) return `layer ${layer.name} is a Dense layer on rank-${layerIn?.length ?? '?'} input`;
    } else {
      if (cfg.dataFormat !== 'channelsLast') return `layer ${layer.name} is not channelsLast`;
      if (cfg.padding !== 'same' && cfg.padding !== 'valid') return `layer ${layer.name} has padding ${String(cfg.padding)}`;
      const s = pair(cfg.strides);
      const d = pair(cfg.dilationRate ?? 1);
      if (!s || !d) return `layer ${layer.name} has unexpected strides/dilation`;
      strides = s;
      dilations = d;
      padding = cfg.padding;
    }
    const step: ParamStep = { kind: cls === 'Dense' ? 'dense' : 'conv2d', kernel, bias, activation, outShape: out as number[], strides, padding, dilations };
    steps.push(step);
    covered.add(kernel);
    if (bias) covered.add(bias);
  }
  const missing = model.trainableWeights.filter((w) => !covered.has(w.read() as tf.Variable));
  if (missing.length > 0) return `weights ${missing.map((w) => w.name).join(', ')} are outside the supported layers`;
  return { steps, params: steps.filter((s): s is ParamStep => s.kind !== 'pass') };
}

/** Why ghost clipping does not apply to this model, or undefined when it does. */
export function ghostClippingUnsupported(model: LocalModel): string | undefined {
  const plan = ghostPlan(model.model);
  return typeof plan === 'string' ? plan : undefined;
}

export function trainableVariables(model: LocalModel): tf.Variable[] {
  return model.model.trainableWeights.map((w) => w.read() as tf.Variable);
}

/** ℓ_i for every example: the same losses as LocalModel.lossFn, not averaged. */
export function perExampleLoss(output: tf.Tensor, oneHot: tf.Tensor, probabilities: boolean): tf.Tensor1D {
  return tf.tidy(() => {
    const logp = probabilities ? tf.log(tf.clipByValue(output, 1e-7, 1)) : tf.logSoftmax(output);
    return tf.neg(tf.sum(tf.mul(oneHot, logp), -1)) as tf.Tensor1D;
  });
}

function applyParam(step: ParamStep, a: tf.Tensor): tf.Tensor {
  let z = step.kind === 'dense'
    ? tf.matMul(a as tf.Tensor2D, step.kernel as tf.Tensor2D)
    : tf.conv2d(a as tf.Tensor4D, step.kernel as tf.Tensor4D, step.strides, step.padding, 'NHWC', step.dilations);
  if (step.bias) z = tf.add(z, step.bias);
  return z;
}

/**
 * im2col: [b, oh·ow, kh·kw·c_in], channels in the kernel's own (i, j, c) order. A plain copy loop
 * over the input values (tfjs slicing/concat or a one-hot convolution are several times slower).
 */
function unfold(a: tf.Tensor4D, step: ParamStep, oh: number, ow: number): tf.Tensor3D {
  const [kh, kw] = step.kernel.shape as [number, number, number, number];
  const [sh, sw] = step.strides;
  const [dh, dw] = step.dilations;
  const [b, h, w, c] = a.shape;
  let top = 0;
  let left = 0;
  if (step.padding === 'same') {
    // TensorFlow's 'same': total padding (out − 1)·stride + effective kernel − in, the extra row/column at the end.
    top = Math.floor(Math.max((oh - 1) * sh + (kh - 1) * dh + 1 - h, 0) / 2);
    left = Math.floor(Math.max((ow - 1) * sw + (kw - 1) * dw + 1 - w, 0) / 2);
  }
  const src = a.dataSync();
  const k = kh * kw * c;
  const out = new Float32Array(b * oh * ow * k);
  let o = 0;
  for (let n = 0; n < b; n++) {
    for (let y = 0; y < oh; y++) {
      for (let x = 0; x < ow; x++) {
        for (let i = 0; i < kh; i++) {
          const iy = y * sh + i * dh - top;
          for (let j = 0; j < kw; j++) {
            const ix = x * sw + j * dw - left;
            if (iy >= 0 && iy < h && ix >= 0 && ix < w) {
              const from = ((n * h + iy) * w + ix) * c;
              for (let ch = 0; ch < c; ch++) out[o + ch] = src[from + ch]!;
            }
            o += c;
          }
        }
      }
    }
  }
  return tf.tensor3d(out, [b, oh * ow, k]);
}

/** Clip factors min(1, C(1 − margin)/‖·‖); a zero gradient keeps factor 1. */
function clipFactors(norms: tf.Tensor1D, clipNorm: number): tf.Tensor1D {
  return tf.minimum(1, tf.div(clipNorm * (1 - CLIP_MARGIN), tf.maximum(norms, 1e-30))) as tf.Tensor1D;
}

function ghost(model: LocalModel, plan: GhostPlan, x: tf.Tensor, y: tf.Tensor, clipNorm: number): ClippedGradientSum {
  const b = x.shape[0]!;
  const probabilities = outputsProbabilities(model.model);
  const inputs: tf.Tensor[] = [];
  const probes = plan.params.map((p) => tf.zeros([b, ...p.outShape]));
  let outGrads: tf.Tensor[] = [];
  try {
    outGrads = tf.grads((...ps: tf.Tensor[]) => {
      let a = x;
      let j = 0;
      for (const step of plan.steps) {
        if (step.kind === 'pass') {
          a = step.layer.apply(a, { training: true }) as tf.Tensor;
          continue;
        }
        inputs.push(a === x ? a : tf.keep(a));
        a = step.activation(tf.add(applyParam(step, a), ps[j++]!));
      }
      return tf.sum(perExampleLoss(a, y, probabilities));
    })(probes);

    const [normsT, ...sums] = tf.tidy(() => {
      // Per-example squared norm of each layer's gradient, and what the weighted sums need.
      const parts = plan.params.map((step, j): { sq: tf.Tensor; a?: tf.Tensor; g?: tf.Tensor; perExample?: tf.Tensor; gb?: tf.Tensor } => {
        const a = inputs[j]!;
        const g = outGrads[j]!;
        if (step.kind === 'dense') {
          const g2 = tf.sum(tf.square(g), 1);
          const sq = tf.mul(tf.sum(tf.square(a), 1), g2);
          return { sq: step.bias ? tf.add(sq, g2) : sq, a, g };
        }
        const cout = step.kernel.shape[3]!;
        const patches = unfold(a as tf.Tensor4D, step, g.shape[1]!, g.shape[2]!);
        const gr = tf.reshape(g, [b, patches.shape[1], cout]);
        const perExample = tf.matMul(patches, gr, true, false); // [b, kh·kw·c_in, cout]
        const gb = tf.sum(gr, 1); // [b, cout]
        const sq = tf.sum(tf.square(perExample), [1, 2]);
        return { sq: step.bias ? tf.add(sq, tf.sum(tf.square(gb), 1)) : sq, perExample, gb };
      });
      const norms = tf.sqrt(tf.addN(parts.map((p) => p.sq))) as tf.Tensor1D;
      const w = clipFactors(norms, clipNorm);
      const byVar = new Map<tf.Variable, tf.Tensor>();
      plan.params.forEach((step, j) => {
        const part = parts[j]!;
        if (step.kind === 'dense' && part.a && part.g) {
          const wg = tf.mul(part.g, tf.expandDims(w, 1));
          byVar.set(step.kernel, tf.matMul(part.a as tf.Tensor2D, wg as tf.Tensor2D, true, false));
          if (step.bias) byVar.set(step.bias, tf.sum(wg, 0));
        } else if (part.perExample && part.gb) {
          byVar.set(step.kernel, tf.reshape(tf.sum(tf.mul(part.perExample, tf.reshape(w, [b, 1, 1])), 0), step.kernel.shape));
          if (step.bias) byVar.set(step.bias, tf.sum(tf.mul(part.gb, tf.expandDims(w, 1)), 0));
        }
      });
      const sums = trainableVariables(model).map((v) => byVar.get(v) ?? fail('internal', `no clipped gradient for ${v.name}`));
      return [norms, ...sums];
    });
    const norms = normsT.dataSync() as Float32Array;
    normsT.dispose();
    return { sum: sums, norms, method: 'ghost' };
  } finally {
    tf.dispose([...probes, ...outGrads, ...inputs.filter((t) => t !== x)]);
  }
}

function perExampleLoop(model: LocalModel, x: tf.Tensor, y: tf.Tensor, clipNorm: number): ClippedGradientSum {
  const b = x.shape[0]!;
  const vars = trainableVariables(model);
  const probabilities = outputsProbabilities(model.model);
  let acc: tf.Tensor[] = vars.map((v) => tf.zeros(v.shape));
  const norms = new Float32Array(b);
  for (let i = 0; i < b; i++) {
    const next = tf.tidy(() => {
      const xi = tf.slice(x, i, 1);
      const yi = tf.slice(y, i, 1);
      const { value, grads } = tf.variableGrads(
        () => tf.sum(perExampleLoss(model.model.apply(xi, { training: true }) as tf.Tensor, yi, probabilities)) as tf.Scalar,
        vars,
      );
      value.dispose();
      const g = vars.map((v) => grads[v.name] ?? tf.zerosLike(v));
      const norm = tf.reshape(tf.sqrt(tf.addN(g.map((t) => tf.sum(tf.square(t))))), [1]) as tf.Tensor1D;
      const factor = clipFactors(norm, clipNorm);
      return [norm, ...g.map((t, k) => tf.add(acc[k]!, tf.mul(t, factor)))];
    });
    const [norm, ...sums] = next;
    norms[i] = norm!.dataSync()[0]!;
    tf.dispose([norm!, ...acc]);
    acc = sums;
  }
  return { sum: acc, norms, method: 'per-example' };
}

/**
 * Σ_i clip_C(∇ℓ_i) over a batch (x: inputs, y: one-hot labels). 'auto' uses ghost clipping when the
 * model supports it and the per-example loop otherwise.
 */
export function clippedGradientSum(
  model: LocalModel,
  x: tf.Tensor,
  y: tf.Tensor,
  clipNorm: number,
  method: 'auto' | ClipMethod = 'auto',
): ClippedGradientSum {
  if (!Number.isFinite(clipNorm) || clipNorm <= 0) fail('config', `per-example clip norm must be a positive number, got ${clipNorm}`, 'set privacy.clipNorm > 0');
  if (x.shape[0] !== y.shape[0]) fail('shape', `batch has ${x.shape[0]} inputs and ${y.shape[0]} labels`);
  if (method === 'per-example') return perExampleLoop(model, x, y, clipNorm);
  const plan = ghostPlan(model.model);
  if (typeof plan === 'string') {
    if (method === 'ghost') fail('precondition', `ghost clipping does not support this model: ${plan}`, "use method 'per-example' (or 'auto')");
    return perExampleLoop(model, x, y, clipNorm);
  }
  return ghost(model, plan, x, y, clipNorm);
}
