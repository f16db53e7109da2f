/**
 * What a gradient-leakage attacker observes of a participant's training step, under a defence.
 *
 * The participant computes its message on a batch of B examples at the global parameters θ:
 *  - 'gradient': the mean gradient ḡ (FedSGD with gradient sharing);
 *  - 'fedsgd': the update Δ = θ' − θ after one local SGD step with learning rate η, produced by
 *    the participant's real training code (LocalModel.train, or trainDpSgd under DP-SGD).
 * Defences then act on the message:
 *  - clip: L2 clipping to C (fedsec's l2ClipStage);
 *  - topk: only the largest-magnitude fraction of coordinates is sent (sparsification); the
 *    attacker knows which coordinates were sent and matches on those only;
 *  - quantise: b-bit uniform quantisation with stochastic rounding, per tensor over [−max|v|, max|v|];
 *  - client-dp: clip to C, then Gaussian noise N(0, (zC)²) on the released sum (fedsec's
 *    centralGaussianNoiseStage), z calibrated for (ε, δ) over the planned rounds at sampling rate
 *    q. The observation is the release of a round in which the target was the only participant —
 *    the best case for the attacker. (Under *central* DP the coordinator adds the noise itself and
 *    sees the clipped update: for a curious coordinator that is the 'clip' row.)
 *  - dp-sgd: example-level DP-SGD on the step (fedsec's trainDpSgd / per-example clipping): each
 *    example's gradient clipped to C, noise N(0, (zC)²) on the sum, divided by B; z calibrated for
 *    (ε, δ) with q = B / localExamples and all the participant's planned steps;
 *  - secagg: the attacker sees only the sum of K participants' messages (what secure aggregation
 *    reveals — Bonawitz et al. 2017 — so the sum of K plain updates is that observation).
 * The attacker turns the observation into an estimate of the mean gradient over the K·B examples
 * behind it: ĝ = obs / K for gradients, ĝ = −obs / (η·K) for updates (η, K, B are public).
 */
import { z } from 'zod';
import { tf } from '../../model/backend.js';
import { fail } from '../../core/errors.js';
import { flatten, type ParamLayout } from '../../core/params.js';
import type { SeededRng } from '../../core/rng.js';
import { add, sub } from '../../core/vector.js';
import type { Dataset } from '../../data/dataset.js';
import type { LocalModel } from '../../model/local-model.js';
import { calibrateNoiseMultiplier } from '../../privacy/calibrate.js';
import { centralGaussianNoiseStage } from '../../privacy/central-noise-stage.js';
import { l2ClipStage } from '../../privacy/clip-stage.js';
import { trainDpSgd } from '../../privacy/dp-sgd.js';
import { clippedGradientSum } from '../../privacy/per-example-clipping.js';
import { fillGaussian } from '../../privacy/secure-gaussian.js';
import type { StageContext } from '../../federation/stages.js';
import { flatGradient } from './gradients.js';

const positive = (what: string) => z.number({ error: `${what} must be a number` }).refine((v) => Number.isFinite(v) && v > 0, `${what} must be a positive number`);
const epsilons = z.union([positive('epsilon'), z.array(positive('epsilon')).min(1, 'give at least one ε')]);
const delta = z.number({ error: 'delta must be a number' }).gt(0, 'delta must be in (0, 1), e.g. 1e-5').lt(1, 'delta must be in (0, 1), e.g. 1e-5');

export const leakageDefenceSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('none') }).strict(),
  z.object({ kind: z.literal('clip'), clipNorm: positive('clipNorm').default(1) }).strict(),
  z.object({ kind: z.literal('topk'), keep: z.number().gt(0, 'keep is the fraction of coordinates sent, in (0, 1]').lte(1, 'keep is the fraction of coordinates sent, in (0, 1]') }).strict(),
  z.object({ kind: z.literal('quantise'), bits: z.number().int('bits must be a whole number').min(1, 'bits must be between 1 and 16').max(16, 'bits must be between 1 and 16') }).strict(),
  z.object({
    kind: z.literal('client-dp'),
    epsilon: epsilons,
    delta: delta.default(1e-5),
    clipNorm: positive('clipNorm').default(1),
    /** q: participants sampled per round / population. */
    samplingRate: z.number().gt(0, 'samplingRate must be in (0, 1]').lte(1, 'samplingRate must be in (0, 1]').default(0.1),
    rounds: z.number().int().min(1, 'rounds must be ≥ 1').default(100),
  }).strict(),
  z.object({
    kind: z.literal('dp-sgd'),
    epsilon: epsilons,
    delta: delta.default(1e-5),
    clipNorm: positive('clipNorm').default(1),
    /** The participant's local dataset size n (q = B/n). */
    localExamples: z.number().int().min(1).default(600),
    /** Local epochs per round × rounds = the participant's planned passes over its data. */
    epochs: z.number().int().min(1).default(1),
    rounds: z.number().int().min(1).default(10),
  }).strict(),
  z.object({
    kind: z.literal('secagg'),
    participants: z.number().int().min(2, 'secure aggregation needs at least 2 participants (the brief measures ≥ 10)').max(1000),
  }).strict(),
]);
export type LeakageDefenceSpec = z.infer<typeof leakageDefenceSchema>;

/** One defence setting with a single ε and its noise multiplier resolved. */
export type ResolvedDefence =
  | { readonly kind: 'none' | 'clip' | 'topk' | 'quantise' | 'secagg'; readonly spec: LeakageDefenceSpec; readonly label: string }
  | {
    readonly kind: 'client-dp' | 'dp-sgd';
    readonly spec: LeakageDefenceSpec;
    readonly label: string;
    readonly epsilon: number;
    readonly delta: number;
    readonly clipNorm: number;
    readonly noiseMultiplier: number;
    readonly samplingRate: number;
    readonly steps: number;
  };

/** Expand ε lists into one setting per ε (noise calibrated for batch size B where it matters). */
export function resolveDefences(specs: readonly LeakageDefenceSpec[], batchSize: number): ResolvedDefence[] {
  return specs.flatMap((spec): ResolvedDefence[] => {
    switch (spec.kind) {
      case 'none':
        return [{ kind: 'none', spec, label: 'none' }];
      case 'clip':
        return [{ kind: 'clip', spec, label: `clip C=${spec.clipNorm}` }];
      case 'topk':
        return [{ kind: 'topk', spec, label: `top-k ${+(spec.keep * 100).toPrecision(3)}%` }];
      case 'quantise':
        return [{ kind: 'quantise', spec, label: `quantise ${spec.bits} bit` }];
      case 'secagg':
        return [{ kind: 'secagg', spec, label: `secagg K=${spec.participants}` }];
      case 'client-dp':
        return (Array.isArray(spec.epsilon) ? spec.epsilon : [spec.epsilon]).map((epsilon) => {
          const { noiseMultiplier } = calibrateNoiseMultiplier({ epsilon, delta: spec.delta, samplingRate: spec.samplingRate, steps: spec.rounds });
          return { kind: 'client-dp', spec, label: `client-DP ε=${epsilon}`, epsilon, delta: spec.delta, clipNorm: spec.clipNorm, noiseMultiplier, samplingRate: spec.samplingRate, steps: spec.rounds };
        });
      case 'dp-sgd': {
        if (batchSize > spec.localExamples) fail('config', `dp-sgd: batch size ${batchSize} exceeds localExamples ${spec.localExamples}`, 'raise localExamples');
        const q = batchSize / spec.localExamples;
        const steps = spec.rounds * Math.max(1, Math.round(spec.epochs / q));
        return (Array.isArray(spec.epsilon) ? spec.epsilon : [spec.epsilon]).map((epsilon) => {
          const { noiseMultiplier } = calibrateNoiseMultiplier({ epsilon, delta: spec.delta, samplingRate: q, steps });
          return { kind: 'dp-sgd', spec, label: `DP-SGD ε=${epsilon}`, epsilon, delta: spec.delta, clipNorm: spec.clipNorm, noiseMultiplier, samplingRate: q, steps };
        });
      }
    }
  });
}

export type ObservationMode = 'gradient' | 'fedsgd';

export interface Observation {
  /** The attacker's estimate of the mean gradient over the examples behind the observation. */
  readonly gradient: Float32Array;
  /** K·B: the examples behind it. */
  readonly examples: number;
  /** 1 where a coordinate was observed (top-k), absent when all were. */
  readonly mask?: Float32Array;
}

const stageCtx = (actor: string): StageContext => ({ round: 0, actor, numSamples: 1, contributors: 1 });

/** The message one participant sends for its batch, before message-level defences. */
async function rawMessage(model: LocalModel, params: Float32Array, batch: Dataset, defence: ResolvedDefence, mode: ObservationMode, learningRate: number, rng: SeededRng): Promise<Float32Array> {
  model.setParams(params);
  const all = Array.from({ length: batch.size }, (_, i) => i);
  if (defence.kind === 'dp-sgd') {
    const { clipNorm: c, noiseMultiplier: zm } = defence;
    if (mode === 'fedsgd') {
      // One DP-SGD step on exactly this batch: sampling rate 1 over it, denominator B.
      await trainDpSgd(model, batch, { epochs: 1, batchSize: batch.size, learningRate, optimizer: 'sgd' }, { clipNorm: c, noiseMultiplier: zm, samplingRate: 1, steps: 1 });
      const delta = sub(model.getParams(), params);
      model.setParams(params);
      return delta;
    }
    const { x, y } = model.batch(batch, all);
    const part = clippedGradientSum(model, x, y, c);
    const sum = flatten(model.layout, part.sum.map((t) => t.dataSync() as Float32Array));
    tf.dispose([x, y, ...part.sum]);
    const noise = fillGaussian(new Float32Array(sum.length), zm * c);
    for (let i = 0; i < sum.length; i++) sum[i] = (sum[i]! + noise[i]!) / batch.size;
    return sum;
  }
  if (mode === 'gradient') return flatGradient(model, batch, all);
  await model.train(batch, { epochs: 1, batchSize: batch.size, learningRate, optimizer: 'sgd' }, rng);
  const delta = sub(model.getParams(), params);
  model.setParams(params);
  return delta;
}

function topK(v: Float32Array, keep: number): Float32Array {
  const k = Math.max(1, Math.round(keep * v.length));
  if (k >= v.length) return Float32Array.from(v);
  const mags = Float32Array.from(v, Math.abs).sort();
  const threshold = mags[v.length - k]!;
  const out = new Float32Array(v.length);
  let kept = 0;
  // Strictly larger first, then ties at the threshold until k are kept.
  for (let i = 0; i < v.length; i++) if (Math.abs(v[i]!) > threshold) {
    out[i] = v[i]!;
    kept++;
  }
  for (let i = 0; i < v.length && kept < k; i++) if (Math.abs(v[i]!) === threshold) {
    out[i] = v[i]!;
    kept++;
  }
  return out;
}

/**
 * b-bit uniform quantisation with unbiased stochastic rounding, one scale per tensor (as QSGD-style
 * compressors do): each tensor's values map onto 2^b levels spanning [−s, s], s = its max |v|.
 */
export function quantiseVector(v: Float32Array, bits: number, rng: SeededRng, layout?: ParamLayout): Float32Array {
  const out = new Float32Array(v.length);
  const segments = layout ? layout.entries.map((e) => [e.offset, e.offset + e.size] as const) : [[0, v.length] as const];
  const levels = 2 ** bits - 1; // intervals between the 2^b representable values
  for (const [start, end] of segments) {
    let s = 0;
    for (let i = start; i < end; i++) s = Math.max(s, Math.abs(v[i]!));
    if (s === 0) continue;
    const step = (2 * s) / levels;
    for (let i = start; i < end; i++) {
      const u = (v[i]! + s) / step;
      const lo = Math.floor(u);
      const q = Math.min(levels, lo + (rng.next() < u - lo ? 1 : 0));
      out[i] = q * step - s;
    }
  }
  return out;
}

async function defendMessage(message: Float32Array, defence: ResolvedDefence, layout: ParamLayout, rng: SeededRng, actor: string): Promise<Float32Array> {
  switch (defence.kind) {
    case 'clip':
      return l2ClipStage({ clipNorm: defence.spec.kind === 'clip' ? defence.spec.clipNorm : 1 }).apply(message, stageCtx(actor)) as Float32Array;
    case 'topk':
      return topK(message, defence.spec.kind === 'topk' ? defence.spec.keep : 1);
    case 'quantise':
      return quantiseVector(message, defence.spec.kind === 'quantise' ? defence.spec.bits : 16, rng, layout);
    case 'client-dp': {
      const clipped = l2ClipStage({ clipNorm: defence.clipNorm }).apply(message, stageCtx(actor)) as Float32Array;
      const noise = centralGaussianNoiseStage({ noiseMultiplier: defence.noiseMultiplier, clipNorm: defence.clipNorm, expectedParticipants: 1, input: 'sum' });
      return (await noise.apply(clipped, { ...stageCtx('coordinator'), contributors: 1 })) as Float32Array;
    }
    default:
      return message;
  }
}

/**
 * The attacker's view of the target's batch (and, under secure aggregation, of `others`' batches
 * summed with it), converted to a mean-gradient estimate.
 */
export async function observe(
  model: LocalModel,
  params: Float32Array,
  target: Dataset,
  others: readonly Dataset[],
  defence: ResolvedDefence,
  mode: ObservationMode,
  learningRate: number,
  rng: SeededRng,
): Promise<Observation> {
  if (!(learningRate > 0)) fail('config', `learning rate must be positive, got ${learningRate}`);
  const contributors = defence.kind === 'secagg' ? [target, ...others] : [target];
  if (defence.kind === 'secagg' && defence.spec.kind === 'secagg' && contributors.length !== defence.spec.participants) {
    fail('internal', `secure aggregation of ${defence.spec.participants} participants got ${contributors.length} batches`);
  }
  let sum: Float32Array | undefined;
  let examples = 0;
  for (const [k, batch] of contributors.entries()) {
    const raw = await rawMessage(model, params, batch, defence, mode, learningRate, rng.fork('participant', k));
    const msg = await defendMessage(raw, defence, model.layout, rng.fork('defence', k), `participant-${k}`);
    sum = sum ? add(sum, msg) : msg;
    examples += batch.size;
  }
  const obs = sum!;
  const factor = (mode === 'gradient' ? 1 : -1 / learningRate) / contributors.length;
  const gradient = Float32Array.from(obs, (v) => v * factor);
  if (defence.kind === 'topk') {
    return { gradient, examples, mask: Float32Array.from(obs, (v) => (v !== 0 ? 1 : 0)) };
  }
  return { gradient, examples };
}
