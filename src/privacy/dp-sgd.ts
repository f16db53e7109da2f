/**
 * DP-SGD (Abadi, Chu, Goodfellow, McMahan, Mironov, Talwar & Zhang 2016, "Deep learning with
 * differential privacy") for a participant's local training. Each step:
 *
 *   B ← Poisson sample of the n local examples (each independently with probability q),
 *   ĝ ← ( Σ_{i∈B} clip_C(∇ℓ_i) + N(0, (zC)² I) ) / (q·n),
 *
 * then the configured optimizer applies ĝ (post-processing). Dividing by the *expected* batch size
 * q·n, not |B|, keeps each step exactly the Poisson-subsampled Gaussian mechanism the RDP accountant
 * analyses (one step per batch, `stepsPerRound` steps per round). An empty sample still takes a
 * (pure-noise) step.
 *
 * The sample is drawn from the OS CSPRNG, not from the round's seed: the seed comes from the
 * coordinator, and amplification by sampling only holds if nobody can know which examples a step
 * used. The noise comes from secure-gaussian.ts. The local dataset size n is treated as public (it
 * is sent as the reply's sample count anyway), as in Abadi et al.
 */
import { randomFillSync } from 'node:crypto';
import * as tf from '@tensorflow/tfjs-core';
import { fail } from '../core/errors.js';
import type { Dataset } from '../data/dataset.js';
import type { LocalTrainingConfig } from '../federation/protocol.js';
import type { LocalModel } from '../model/local-model.js';
import { makeOptimizer } from '../model/local-model.js';
import { clippedGradientSum, trainableVariables, type ClipMethod } from './per-example-clipping.js';
import { fillGaussian } from './secure-gaussian.js';

export interface DpSgdSchedule {
  /** q: the probability that a step's batch includes a given example. */
  readonly samplingRate: number;
  /** Accountant steps per round: round(epochs / q) (an epoch is 1/q steps in expectation). */
  readonly stepsPerRound: number;
  /** q·n: the denominator of every step. */
  readonly expectedBatchSize: number;
}

/** The public per-round schedule of a participant with `examples` local examples. */
export function dpSgdSchedule(examples: number, training: Pick<LocalTrainingConfig, 'epochs' | 'batchSize'>, samplingRate?: number): DpSgdSchedule {
  if (!Number.isInteger(examples) || examples < 1) fail('data', `DP-SGD needs at least one local example, got ${examples}`);
  const q = samplingRate ?? Math.min(1, training.batchSize / examples);
  if (!(q > 0 && q <= 1)) fail('config', `DP-SGD sampling rate must be in (0, 1], got ${q}`);
  return { samplingRate: q, stepsPerRound: Math.max(1, Math.round(training.epochs / q)), expectedBatchSize: q * examples };
}

const TWO_POW_32 = 2 ** 32;

/** Indices 0..n−1, each kept independently with probability q (CSPRNG, 32-bit resolution). */
export function poissonSample(n: number, q: number): number[] {
  if (!Number.isInteger(n) || n < 0) fail('precondition', `population size must be a whole number ≥ 0, got ${n}`);
  if (!(q >= 0 && q <= 1)) fail('precondition', `sampling rate must be in [0, 1], got ${q}`);
  const words = new Uint32Array(n);
  randomFillSync(words);
  const threshold = q * TWO_POW_32;
  const out: number[] = [];
  for (let i = 0; i < n; i++) if (q === 1 || words[i]! < threshold) out.push(i);
  words.fill(0);
  return out;
}

export interface DpSgdOptions {
  /** C: the per-example L2 bound. */
  readonly clipNorm: number;
  /** z: noise std on the sum is z·C (0 only for testing the clipping). */
  readonly noiseMultiplier: number;
  readonly samplingRate: number;
  readonly steps: number;
  /** Examples per forward/backward pass (bounds memory; Poisson batches vary in size). Default 256. */
  readonly microBatch?: number;
  readonly method?: 'auto' | ClipMethod;
}

export interface DpSgdResult {
  readonly steps: number;
  /** Mean realised batch size |B| (expected: q·n). */
  readonly meanBatchSize: number;
  /** Examples whose gradient norm exceeded C. */
  readonly clippedFraction: number;
  readonly method: ClipMethod;
}

export async function trainDpSgd(model: LocalModel, data: Dataset, training: LocalTrainingConfig, options: DpSgdOptions): Promise<DpSgdResult> {
  const { clipNorm: c, noiseMultiplier: z, samplingRate: q, steps } = options;
  const n = data.size;
  if (n < 1) fail('data', `dataset "${data.name}" is empty`);
  if (!(q > 0 && q <= 1)) fail('config', `DP-SGD sampling rate must be in (0, 1], got ${q}`);
  if (!Number.isInteger(steps) || steps < 1) fail('config', `DP-SGD steps must be a whole number ≥ 1, got ${steps}`);
  if (!Number.isFinite(z) || z < 0) fail('config', `noise multiplier must be a finite number ≥ 0, got ${z}`);
  const micro = options.microBatch ?? 256;
  if (!Number.isInteger(micro) || micro < 1) fail('config', `microBatch must be a whole number ≥ 1, got ${micro}`);

  const vars = trainableVariables(model);
  const sizes = vars.map((v) => v.size);
  const dim = sizes.reduce((a, b) => a + b, 0);
  const expected = q * n;
  const optimizer = makeOptimizer(training);
  let examples = 0;
  let clipped = 0;
  let method: ClipMethod = 'ghost';
  try {
    for (let step = 0; step < steps; step++) {
      const batch = poissonSample(n, q);
      examples += batch.length;
      const acc = new Float64Array(dim);
      for (let start = 0; start < batch.length; start += micro) {
        const { x, y } = model.batch(data, batch.slice(start, start + micro));
        const part = clippedGradientSum(model, x, y, c, options.method ?? 'auto');
        method = part.method;
        for (const norm of part.norms) if (norm > c) clipped++;
        let off = 0;
        part.sum.forEach((t, k) => {
          const values = t.dataSync();
          for (let i = 0; i < values.length; i++) acc[off + i] = acc[off + i]! + values[i]!;
          off += sizes[k]!;
        });
        tf.dispose([x, y, ...part.sum]);
      }
      const noise = fillGaussian(new Float64Array(dim), z * c);
      let off = 0;
      const grads = vars.map((v, k) => {
        const g = new Float32Array(sizes[k]!);
        for (let i = 0; i < g.length; i++) g[i] = (acc[off + i]! + noise[off + i]!) / expected;
        off += sizes[k]!;
        return { name: v.name, tensor: tf.tensor(g, v.shape, 'float32') };
      });
      noise.fill(0);
      optimizer.applyGradients(grads);
      tf.dispose(grads.map((g) => g.tensor));
      if (step % 16 === 15) await Promise.resolve(); // let the event loop breathe
    }
  } finally {
    optimizer.dispose();
  }
  return { steps, meanBatchSize: examples / steps, clippedFraction: examples > 0 ? clipped / examples : 0, method };
}
