/**
 * Neural Cleanse (Wang et al., IEEE S&P 2019): for each class t, reverse-engineer the smallest
 * trigger (mask m, pattern p; x' = (1 − m)·x + m·p) that sends clean inputs of other classes to t.
 * A backdoor is a shortcut to its target class, so that class needs a much smaller mask than the
 * others: classes whose mask L1 is an outlier on the low side (anomaly index > 2 with a MAD
 * scale) are flagged.
 *
 * Variant: Adam on sigmoid-parameterised mask and pattern (the paper uses tanh; same range), with
 * the paper's λ schedule simplified to a multiplicative step every `checkEvery` steps — up when
 * the reversed trigger already reaches `targetSuccess`, down when it does not — and the smallest
 * mask that reached it kept. Classes that never reach it are never flagged (their mask norm is not
 * a minimal trigger size, only a lower bound on it).
 */
import * as tf from '@tensorflow/tfjs-core';
import { fail } from '../core/errors.js';
import { SeededRng } from '../core/rng.js';
import type { Dataset } from '../data/dataset.js';
import { featureSize } from '../data/dataset.js';
import type { LocalModel } from '../model/local-model.js';
import { MAD_TO_SIGMA, mad, median } from './robust-stats.js';

export interface NeuralCleanseOptions {
  /** Adam steps per class. */
  readonly steps: number;
  readonly learningRate: number;
  /** Initial weight of the mask's L1 norm in the loss. */
  readonly lambda: number;
  /** Attack success a reversed trigger must reach to count as a trigger. */
  readonly targetSuccess: number;
  /** Anomaly index (low side) above which a class is flagged; the paper uses 2. */
  readonly threshold: number;
  /** Adjust λ and check success every this many steps. */
  readonly checkEvery: number;
  /** Classes to examine (default: all). */
  readonly classes?: readonly number[];
  readonly seed: number | string;
}

export interface ReversedTrigger {
  /** Mask, one value per spatial position (channels share it), in [0, 1]. */
  readonly mask: Float32Array;
  /** Pattern, one value per input feature. */
  readonly pattern: Float32Array;
}

export interface ClassTrigger {
  readonly target: number;
  /** L1 norm of the smallest mask that reached the target success (or of the last mask). */
  readonly maskL1: number;
  readonly attackSuccess: number;
  readonly reached: boolean;
  /** (median − L1) / (1.4826 · MAD) over all examined classes: positive = smaller than typical. */
  readonly anomalyIndex: number;
}

export interface NeuralCleanseResult {
  readonly perClass: readonly ClassTrigger[];
  readonly flagged: readonly number[];
  /** The reversed trigger of each flagged class (for attributing it to contributions). */
  readonly triggers: ReadonlyMap<number, ReversedTrigger>;
  readonly medianL1: number;
}

/** Mask shape: images share one mask value across channels; flat rows get one per feature. */
export function maskShapeOf(featureShape: readonly number[]): number[] {
  return featureShape.length === 3 ? [featureShape[0]!, featureShape[1]!, 1] : [...featureShape];
}

/** x' = (1 − m)·x + m·p for every example of a dataset (labels kept). */
export function stampTrigger(ds: Dataset, trigger: ReversedTrigger): Dataset {
  const f = featureSize(ds);
  const channels = ds.featureShape.length === 3 ? ds.featureShape[2]! : 1;
  if (trigger.pattern.length !== f || trigger.mask.length * channels !== f) fail('shape', `trigger does not fit examples of ${f} features`);
  const x = new Float32Array(ds.x.length);
  for (let i = 0; i < ds.size; i++) {
    for (let j = 0; j < f; j++) {
      const m = trigger.mask[Math.floor(j / channels)]!;
      x[i * f + j] = (1 - m) * ds.x[i * f + j]! + m * trigger.pattern[j]!;
    }
  }
  return { ...ds, x, name: `${ds.name}:triggered` };
}

/** Fraction of examples the model assigns to `target`. */
export function targetRate(model: LocalModel, ds: Dataset, target: number): number {
  if (ds.size === 0) return 0;
  const pred = model.predict(ds);
  let hits = 0;
  for (const p of pred) if (p === target) hits++;
  return hits / ds.size;
}

export function neuralCleanse(model: LocalModel, data: Dataset, options: NeuralCleanseOptions): NeuralCleanseResult {
  const numClasses = model.numClasses;
  const classes = options.classes ?? Array.from({ length: numClasses }, (_, c) => c);
  for (const c of classes) if (!Number.isInteger(c) || c < 0 || c >= numClasses) fail('config', `neural cleanse: class ${c} does not exist (the model has ${numClasses} classes)`);
  if (classes.length < 3) fail('config', `neural cleanse needs at least 3 classes to find an outlier, got ${classes.length}`);
  if (data.size === 0) fail('data', 'neural cleanse needs validation examples, got none');

  let lo = Infinity;
  let hi = -Infinity;
  for (const v of data.x) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!(hi > lo)) hi = lo + 1;

  const rng = SeededRng.from(options.seed, 'neural-cleanse');
  const results: ClassTrigger[] = [];
  const triggers = new Map<number, ReversedTrigger>();
  for (const target of classes) {
    const others: number[] = [];
    data.y.forEach((label, i) => {
      if (label !== target) others.push(i);
    });
    if (others.length === 0) fail('data', `neural cleanse: the validation set has no examples outside class ${target}`);
    const found = reverseTrigger(model, data, others, target, { lo, hi }, options, rng.fork('class', target));
    results.push({ target, maskL1: found.maskL1, attackSuccess: found.attackSuccess, reached: found.reached, anomalyIndex: NaN });
    triggers.set(target, found.trigger);
  }

  // A class that never reached the target success needs a trigger at least this large: count it
  // at no less than the largest successful mask so it cannot drag the median down.
  const largestReached = Math.max(0, ...results.filter((r) => r.reached).map((r) => r.maskL1));
  const norms = results.map((r) => (r.reached ? r.maskL1 : Math.max(r.maskL1, largestReached)));
  const centre = median(norms);
  const scale = Math.max(MAD_TO_SIGMA * mad(norms, centre), 1e-6 * Math.max(1, centre));
  const perClass = results.map((r, i) => ({ ...r, anomalyIndex: (centre - norms[i]!) / scale }));
  const flagged = perClass.filter((r) => r.reached && r.anomalyIndex > options.threshold).map((r) => r.target);
  return {
    perClass,
    flagged,
    triggers: new Map(flagged.map((c) => [c, triggers.get(c)!])),
    medianL1: centre,
  };
}

function reverseTrigger(
  model: LocalModel,
  data: Dataset,
  indices: readonly number[],
  target: number,
  range: { lo: number; hi: number },
  o: NeuralCleanseOptions,
  rng: SeededRng,
): { maskL1: number; attackSuccess: number; reached: boolean; trigger: ReversedTrigger } {
  const maskShape = maskShapeOf(model.featureShape);
  const maskSize = maskShape.reduce((p, d) => p * d, 1);
  const f = model.featureShape.reduce((p, d) => p * d, 1);
  // Start with a faint mask (sigmoid(−2) ≈ 0.12) and a random pattern, as the paper starts random.
  const maskRaw = tf.variable(tf.tensor(Float32Array.from({ length: maskSize }, () => -2 + 0.1 * rng.normal()), maskShape), true);
  const patternRaw = tf.variable(tf.tensor(Float32Array.from({ length: f }, () => rng.normal()), [...model.featureShape]), true);
  const { x, y } = model.batch(data, indices);
  const targetOneHot = tf.tidy(() => tf.oneHot(tf.fill([indices.length], target, 'int32'), model.numClasses));
  const optimizer = tf.train.adam(o.learningRate);
  let lambda = o.lambda;
  let best: { maskL1: number; attackSuccess: number; trigger: ReversedTrigger } | undefined;
  let last = { maskL1: maskSize, attackSuccess: 0 };

  const stamped = (): tf.Tensor => {
    const m = tf.sigmoid(maskRaw);
    const p = tf.add(tf.mul(tf.sigmoid(patternRaw), range.hi - range.lo), range.lo);
    return tf.add(tf.mul(tf.sub(1, m), x), tf.mul(m, p));
  };
  const check = (): void => {
    const [success, l1] = tf.tidy(() => {
      const out = model.model.apply(stamped(), { training: false }) as tf.Tensor;
      return [tf.mean(tf.cast(tf.equal(tf.argMax(out, -1), target), 'float32')), tf.sum(tf.sigmoid(maskRaw))] as const;
    });
    const attackSuccess = success.dataSync()[0]!;
    const maskL1 = l1.dataSync()[0]!;
    tf.dispose([success, l1]);
    last = { maskL1, attackSuccess };
    if (attackSuccess >= o.targetSuccess) {
      if (!best || maskL1 < best.maskL1) {
        const mask = tf.tidy(() => tf.sigmoid(maskRaw));
        const pattern = tf.tidy(() => tf.add(tf.mul(tf.sigmoid(patternRaw), range.hi - range.lo), range.lo));
        best = { maskL1, attackSuccess, trigger: { mask: Float32Array.from(mask.dataSync()), pattern: Float32Array.from(pattern.dataSync()) } };
        tf.dispose([mask, pattern]);
      }
      lambda *= 1.5;
    } else lambda /= 1.5;
    lambda = Math.min(Math.max(lambda, o.lambda / 1000), o.lambda * 1000);
  };

  try {
    for (let step = 1; step <= o.steps; step++) {
      const cost = optimizer.minimize(() => {
        const out = model.model.apply(stamped(), { training: false }) as tf.Tensor;
        return tf.add(model.lossFn(out, targetOneHot), tf.mul(lambda, tf.sum(tf.sigmoid(maskRaw)))) as tf.Scalar;
      }, false, [maskRaw, patternRaw]);
      if (cost) cost.dispose();
      if (step % o.checkEvery === 0 || step === o.steps) check();
    }
  } finally {
    optimizer.dispose();
    tf.dispose([maskRaw, patternRaw, x, y, targetOneHot]);
  }
  if (best) return { ...best, reached: true };
  return { ...last, reached: false, trigger: { mask: new Float32Array(maskSize), pattern: new Float32Array(f) } };
}
