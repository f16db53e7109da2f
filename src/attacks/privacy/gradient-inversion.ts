/**
 * Gradient inversion: find inputs whose parameter gradient matches an observed one.
 *  - DLG (Zhu, Liu & Han 2019): optimise dummy inputs *and* soft labels (softmax of free logits)
 *    to minimise the squared L2 distance between gradients, with L-BFGS.
 *  - iDLG (Zhao, Mopuri & Bilen 2020): read the labels off the last layer first
 *    (label-recovery.ts), then optimise the inputs only.
 *  - Geiping et al. 2020 ("Inverting gradients"): cosine distance between gradients plus a total
 *    variation prior, Adam with the pixels kept in the data range.
 * The attacker may also be given a mask of observed coordinates (e.g. after top-k sparsification
 * it knows which entries were sent) — the distance is then taken on those entries only.
 */
import { tf } from '../../model/backend.js';
import { fail } from '../../core/errors.js';
import { unflatten } from '../../core/params.js';
import type { SeededRng } from '../../core/rng.js';
import type { LocalModel } from '../../model/local-model.js';
import { explainGradientError, parameterGradients } from './gradients.js';
import { minimizeAdam, minimizeLbfgs, type MinimizeResult, type Objective } from './minimize.js';

export type GradientDistance = 'l2' | 'scaled-l2' | 'cosine';

export type InversionOptimizer =
  | { readonly kind: 'lbfgs'; readonly iterations: number }
  | { readonly kind: 'adam'; readonly iterations: number; readonly learningRate: number };

export interface InversionOptions {
  /** Number of dummy examples (the examples believed to be behind the observation). */
  readonly batchSize: number;
  /** Labels to use (iDLG / known), or undefined to optimise soft labels (DLG). */
  readonly labels?: readonly number[];
  readonly distance: GradientDistance;
  /** Weight of the total-variation prior (0 = none). */
  readonly tv: number;
  readonly optimizer: InversionOptimizer;
  /** Start point and nothing else (dummy inputs ~ U(0, 1), label logits ~ N(0, 1)). */
  readonly rng: SeededRng;
  /** 1 for observed gradient coordinates, 0 for unobserved (length = parameters). */
  readonly mask?: Float32Array;
  /** Clamp the dummy inputs to [0, 1] after every step (Adam only). */
  readonly boxConstraint?: boolean;
}

export interface InversionResult {
  /** One flat image per dummy example (not clipped). */
  readonly images: Float32Array[];
  /** Labels used or, for DLG, the argmax of the optimised soft labels. */
  readonly labels: number[];
  readonly finalLoss: number;
  readonly iterations: number;
  readonly evaluations: number;
  readonly stopReason: MinimizeResult['stopReason'];
}

/** Anisotropic total variation: mean |Δ| between vertical and between horizontal neighbours. */
function totalVariation(x: tf.Tensor4D): tf.Scalar {
  const [, h, w] = x.shape;
  const dy = tf.sub(tf.slice(x, [0, 1, 0, 0], [-1, h - 1, -1, -1]), tf.slice(x, [0, 0, 0, 0], [-1, h - 1, -1, -1]));
  const dx = tf.sub(tf.slice(x, [0, 0, 1, 0], [-1, -1, w - 1, -1]), tf.slice(x, [0, 0, 0, 0], [-1, -1, w - 1, -1]));
  return tf.add(tf.mean(tf.abs(dy)), tf.mean(tf.abs(dx))) as tf.Scalar;
}

export function invertGradient(model: LocalModel, observed: Float32Array, options: InversionOptions): InversionResult {
  const { batchSize: B, distance, tv, rng } = options;
  const C = model.numClasses;
  const shape = model.featureShape;
  const F = shape.reduce((p, d) => p * d, 1);
  if (observed.length !== model.layout.size) fail('shape', `observed gradient has ${observed.length} values, the model has ${model.layout.size} parameters`);
  if (!Number.isInteger(B) || B < 1) fail('config', `dummy batch size must be a whole number ≥ 1, got ${B}`);
  if (options.labels && options.labels.length !== B) fail('shape', `${options.labels.length} labels for a dummy batch of ${B}`);
  if (options.mask && options.mask.length !== observed.length) fail('shape', `mask has ${options.mask.length} entries, the gradient ${observed.length}`);
  if (tv > 0 && shape.length !== 3) fail('config', 'the total-variation prior needs image inputs [height, width, channels]', 'set tv: 0 for tabular data');
  const optimiseLabels = options.labels === undefined;

  const observedParts = unflatten(model.layout, options.mask ? observed.map((v, i) => v * options.mask![i]!) : observed);
  const target = observedParts.map((p, i) => tf.tensor(p, [...model.layout.entries[i]!.shape]));
  const mask = options.mask ? unflatten(model.layout, options.mask).map((p, i) => tf.tensor(p, [...model.layout.entries[i]!.shape])) : undefined;
  const fixedLabels = options.labels ? tf.tidy(() => tf.oneHot(tf.tensor1d([...options.labels!], 'int32'), C)) : undefined;
  const targetNormSq = tf.tidy(() => tf.addN(target.map((t) => tf.sum(tf.square(t)))));
  if (!(targetNormSq.dataSync()[0]! > 0)) {
    tf.dispose([...target, ...(mask ?? []), targetNormSq]);
    fail('data', 'the observed gradient is zero (or non-finite): there is nothing to match');
  }

  const matchLoss = (x: tf.Tensor, labelLogits?: tf.Tensor): tf.Scalar => {
    const soft = labelLogits ? tf.softmax(labelLogits) : fixedLabels!;
    const grads = parameterGradients(model, x, soft);
    const dummy = mask ? grads.map((g, i) => tf.mul(g, mask[i]!)) : grads;
    let loss: tf.Scalar;
    // Distances are relative to ‖g‖², so the optimiser behaves the same whatever the observation's
    // scale (a clipped or rescaled observation is just as easy to match).
    if (distance === 'l2') {
      loss = tf.div(tf.addN(dummy.map((g, i) => tf.sum(tf.square(tf.sub(g, target[i]!))))), targetNormSq) as tf.Scalar;
    } else if (distance === 'scaled-l2') {
      // min over a scale s of ‖s·g′ − g‖², s = ⟨g′, g⟩/‖g′‖² in closed form: robust to an unknown
      // rescaling of the observation (clipping), and better conditioned in float32 than 1 − cos.
      const dotP = tf.addN(dummy.map((g, i) => tf.sum(tf.mul(g, target[i]!))));
      const dn = tf.addN(dummy.map((g) => tf.sum(tf.square(g))));
      const s = tf.div(dotP, tf.add(dn, 1e-30));
      loss = tf.div(tf.addN(dummy.map((g, i) => tf.sum(tf.square(tf.sub(tf.mul(s, g), target[i]!))))), targetNormSq) as tf.Scalar;
    } else {
      const dotP = tf.addN(dummy.map((g, i) => tf.sum(tf.mul(g, target[i]!))));
      const dn = tf.addN(dummy.map((g) => tf.sum(tf.square(g))));
      loss = tf.sub(1, tf.div(dotP, tf.add(tf.sqrt(tf.mul(dn, targetNormSq)), 1e-20))) as tf.Scalar;
    }
    if (tv > 0) loss = tf.add(loss, tf.mul(tv, totalVariation(x as tf.Tensor4D))) as tf.Scalar;
    return loss;
  };

  const objective: Objective = (z) => {
    const xPart = Float32Array.from(z.subarray(0, B * F));
    const lPart = optimiseLabels ? Float32Array.from(z.subarray(B * F)) : undefined;
    let out: tf.Tensor[];
    try {
      out = tf.tidy(() => {
        const x = tf.tensor(xPart, [B, ...shape]);
        if (lPart) {
          const l = tf.tensor(lPart, [B, C]);
          const { value, grads } = tf.valueAndGrads((a: tf.Tensor, b: tf.Tensor) => matchLoss(a, b))([x, l]);
          return [value, ...grads];
        }
        const { value, grads } = tf.valueAndGrads((a: tf.Tensor) => matchLoss(a))([x]);
        return [value, ...grads];
      });
    } catch (err) {
      explainGradientError(err);
    }
    const f = out[0]!.dataSync()[0]!;
    const g = new Float64Array(z.length);
    g.set(out[1]!.dataSync(), 0);
    if (out[2]) g.set(out[2].dataSync(), B * F);
    tf.dispose(out);
    return { f, g };
  };

  const z0 = new Float64Array(B * F + (optimiseLabels ? B * C : 0));
  for (let i = 0; i < B * F; i++) z0[i] = rng.next();
  for (let i = B * F; i < z0.length; i++) z0[i] = rng.normal();

  let result: MinimizeResult;
  try {
    const opt = options.optimizer;
    if (opt.kind === 'lbfgs') {
      result = minimizeLbfgs(objective, z0, { maxIterations: opt.iterations });
    } else {
      const project = options.boxConstraint
        ? (z: Float64Array) => {
          for (let i = 0; i < B * F; i++) z[i] = Math.min(1, Math.max(0, z[i]!));
        }
        : undefined;
      result = minimizeAdam(objective, z0, { iterations: opt.iterations, learningRate: opt.learningRate, stepDecay: true, ...(project ? { project } : {}) });
    }
  } finally {
    tf.dispose([...target, ...(mask ?? []), targetNormSq, ...(fixedLabels ? [fixedLabels] : [])]);
  }

  const images = Array.from({ length: B }, (_, b) => Float32Array.from(result.x.subarray(b * F, (b + 1) * F)));
  const labels = options.labels
    ? [...options.labels]
    : Array.from({ length: B }, (_, b) => {
      const logits = result.x.subarray(B * F + b * C, B * F + (b + 1) * C);
      let best = 0;
      for (let c = 1; c < C; c++) if (logits[c]! > logits[best]!) best = c;
      return best;
    });
  return { images, labels, finalLoss: result.f, iterations: result.iterations, evaluations: result.evaluations, stopReason: result.stopReason };
}
