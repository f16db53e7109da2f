/**
 * A tfjs LayersModel seen through fedsec's contract: a flat parameter vector with a stable layout,
 * local training on a Dataset, and evaluation. This is the only place the federation touches tfjs.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { fail } from '../core/errors.js';
import type { ParamLayout } from '../core/params.js';
import { flatten, makeLayout, unflatten } from '../core/params.js';
import type { SeededRng } from '../core/rng.js';
import type { Vector } from '../core/vector.js';
import type { Dataset } from '../data/dataset.js';
import { featureSize } from '../data/dataset.js';
import type { LocalTrainingConfig } from '../federation/protocol.js';
import type { ModelSpec } from './zoo.js';
import { buildModel, outputsProbabilities } from './zoo.js';

export interface TrainResult {
  /** Mean training loss over the last epoch. */
  readonly loss: number;
  readonly steps: number;
  readonly samples: number;
}

export interface EvalResult {
  readonly loss: number;
  readonly accuracy: number;
  /** Accuracy per true class (NaN for classes absent from the data). */
  readonly perClassAccuracy: readonly number[];
  readonly size: number;
}

/** Loss on a batch: softmax cross-entropy from logits, or cross-entropy of probabilities. */
export type LossFn = (output: tf.Tensor, oneHot: tf.Tensor) => tf.Scalar;

export class LocalModel {
  readonly layout: ParamLayout;
  readonly lossFn: LossFn;

  private constructor(readonly model: tfl.LayersModel, readonly featureShape: readonly number[], readonly numClasses: number) {
    this.layout = makeLayout(model.weights.map((w) => ({ name: w.originalName, shape: w.shape.map((d) => d ?? 0) })));
    const probabilities = outputsProbabilities(model);
    this.lossFn = probabilities
      ? (p, y) => tf.neg(tf.mean(tf.sum(tf.mul(y, tf.log(tf.clipByValue(p, 1e-7, 1))), -1))) as tf.Scalar
      : (logits, y) => tf.losses.softmaxCrossEntropy(y, logits) as tf.Scalar;
  }

  static async create(spec: ModelSpec, featureShape: readonly number[], numClasses: number, seed: number | string): Promise<LocalModel> {
    return new LocalModel(await buildModel(spec, featureShape, numClasses, seed), featureShape, numClasses);
  }

  static wrap(model: tfl.LayersModel, featureShape: readonly number[], numClasses: number): LocalModel {
    return new LocalModel(model, featureShape, numClasses);
  }

  getParams(): Vector {
    const tensors = this.model.getWeights();
    return flatten(this.layout, tensors.map((t) => t.dataSync() as Float32Array));
  }

  setParams(values: Vector): void {
    const parts = unflatten(this.layout, values);
    const tensors = parts.map((part, i) => tf.tensor(part, [...this.layout.entries[i]!.shape], 'float32'));
    this.model.setWeights(tensors);
    tf.dispose(tensors);
  }

  /** A batch of examples (by index) as tensors; the caller disposes them. */
  batch(ds: Dataset, indices: readonly number[]): { x: tf.Tensor; y: tf.Tensor } {
    const f = featureSize(ds);
    const xb = new Float32Array(indices.length * f);
    const yb = new Int32Array(indices.length);
    indices.forEach((idx, k) => {
      xb.set(ds.x.subarray(idx * f, (idx + 1) * f), k * f);
      yb[k] = ds.y[idx]!;
    });
    return tf.tidy(() => ({
      x: tf.tensor(xb, [indices.length, ...this.featureShape], 'float32'),
      y: tf.oneHot(tf.tensor1d(yb, 'int32'), this.numClasses),
    }));
  }

  /** Local training: shuffled mini-batches, `epochs` passes, a fresh optimizer each call. */
  async train(ds: Dataset, cfg: LocalTrainingConfig, rng: SeededRng): Promise<TrainResult> {
    this.checkData(ds);
    const optimizer = makeOptimizer(cfg);
    const vars = this.model.trainableWeights.map((w) => w.read() as tf.Variable);
    let steps = 0;
    let lastEpochLoss = NaN;
    for (let epoch = 0; epoch < cfg.epochs; epoch++) {
      const order = rng.shuffle(Array.from({ length: ds.size }, (_, i) => i));
      let lossSum = 0;
      let batches = 0;
      for (let start = 0; start < order.length; start += cfg.batchSize) {
        const { x, y } = this.batch(ds, order.slice(start, start + cfg.batchSize));
        const loss = optimizer.minimize(() => this.lossFn(this.model.apply(x, { training: true }) as tf.Tensor, y), true, vars);
        lossSum += loss ? loss.dataSync()[0]! : NaN;
        tf.dispose(loss ? [x, y, loss] : [x, y]);
        batches++;
        steps++;
      }
      lastEpochLoss = lossSum / Math.max(1, batches);
      await Promise.resolve(); // let the event loop breathe between epochs (progress, cancellation)
    }
    optimizer.dispose();
    return { loss: lastEpochLoss, steps, samples: ds.size };
  }

  /** Predicted class per example, in batches. */
  predict(ds: Dataset, batchSize = 500): Int32Array {
    const out = new Int32Array(ds.size);
    for (let start = 0; start < ds.size; start += batchSize) {
      const idx = Array.from({ length: Math.min(batchSize, ds.size - start) }, (_, k) => start + k);
      const { x, y } = this.batch(ds, idx);
      const pred = tf.tidy(() => tf.argMax(this.model.apply(x, { training: false }) as tf.Tensor, -1));
      out.set(pred.dataSync() as Int32Array, start);
      tf.dispose([x, y, pred]);
    }
    return out;
  }

  evaluate(ds: Dataset, batchSize = 500): EvalResult {
    this.checkData(ds);
    let lossSum = 0;
    const correct = new Array<number>(this.numClasses).fill(0);
    const total = new Array<number>(this.numClasses).fill(0);
    for (let start = 0; start < ds.size; start += batchSize) {
      const idx = Array.from({ length: Math.min(batchSize, ds.size - start) }, (_, k) => start + k);
      const { x, y } = this.batch(ds, idx);
      const [loss, pred] = tf.tidy(() => {
        const out = this.model.apply(x, { training: false }) as tf.Tensor;
        return [this.lossFn(out, y), tf.argMax(out, -1)] as const;
      });
      lossSum += loss.dataSync()[0]! * idx.length;
      const predicted = pred.dataSync();
      idx.forEach((i, k) => {
        const label = ds.y[i]!;
        total[label]!++;
        if (predicted[k] === label) correct[label]!++;
      });
      tf.dispose([x, y, loss, pred]);
    }
    const allCorrect = correct.reduce((s, c) => s + c, 0);
    return {
      loss: lossSum / ds.size,
      accuracy: allCorrect / ds.size,
      perClassAccuracy: correct.map((c, k) => (total[k]! > 0 ? c / total[k]! : NaN)),
      size: ds.size,
    };
  }

  dispose(): void {
    this.model.dispose();
  }

  private checkData(ds: Dataset): void {
    if (ds.size === 0) fail('data', `dataset "${ds.name}" is empty`);
    const f = featureSize(ds);
    const expected = this.featureShape.reduce((p, d) => p * d, 1);
    if (f !== expected) fail('shape', `dataset "${ds.name}" has ${f} features per example, the model expects ${expected}`);
    if (ds.numClasses > this.numClasses) fail('shape', `dataset "${ds.name}" has ${ds.numClasses} classes, the model outputs ${this.numClasses}`);
  }
}

/** The optimizer a training config asks for (also used by DP-SGD, which applies its own noisy gradients). */
export function makeOptimizer(cfg: LocalTrainingConfig): tf.Optimizer {
  switch (cfg.optimizer) {
    case 'sgd':
      return tf.train.sgd(cfg.learningRate);
    case 'momentum':
      return tf.train.momentum(cfg.learningRate, cfg.momentum ?? 0.9);
    case 'adam':
      return tf.train.adam(cfg.learningRate);
  }
}
