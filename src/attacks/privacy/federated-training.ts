/**
 * A small in-process FedAvg run that trains the models membership inference and model inversion
 * attack (the target and, with the same recipe, LiRA's shadows). It uses fedsec's real parts —
 * `Participant` (local training + client chain), the L2 clip stage, DP-SGD's `DpSgdTrainer` and
 * the DP-FedAvg central noise stage, with noise calibrated by `resolveDpConfig` — but its own
 * loop instead of the round engine, because the attacks must choose exactly which examples each
 * participant holds (the engine partitions the dataset itself). Every participant joins every
 * round (q = 1).
 */
import { z } from 'zod';
import { fail } from '../../core/errors.js';
import { add, sub, weightedMean } from '../../core/vector.js';
import type { Dataset } from '../../data/dataset.js';
import { Participant } from '../../federation/participant.js';
import type { TrainReply } from '../../federation/protocol.js';
import type { LocalModel } from '../../model/local-model.js';
import { centralGaussianNoiseStage } from '../../privacy/central-noise-stage.js';
import { DpSgdTrainer, participantDpPlan } from '../../privacy/client-feature.js';
import { l2ClipStage } from '../../privacy/clip-stage.js';
import { dpConfigSchema, resolveDpConfig, type DpConfig } from '../../privacy/config.js';

const positive = (what: string) => z.number({ error: `${what} must be a number` }).refine((v) => Number.isFinite(v) && v > 0, `${what} must be a positive number`);
const delta = z.number({ error: 'delta must be a number' }).gt(0, 'delta must be in (0, 1), e.g. 1e-5').lt(1, 'delta must be in (0, 1), e.g. 1e-5');

export const trainingRecipeSchema = z.object({
  epochs: z.number().int().min(1).max(1000).default(2),
  batchSize: z.number().int().min(1).max(100_000).default(32),
  learningRate: positive('learningRate').default(0.1),
  optimizer: z.enum(['sgd', 'momentum', 'adam']).default('sgd'),
}).strict();
export type TrainingRecipe = z.infer<typeof trainingRecipeSchema>;

/** Defences that change how the model is trained (secure aggregation does not: see the attacks). */
export const trainingDefenceSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('none') }).strict(),
  z.object({ kind: z.literal('client-dp'), epsilon: z.union([positive('epsilon'), z.array(positive('epsilon')).min(1)]), delta: delta.default(1e-5), clipNorm: positive('clipNorm').default(1) }).strict(),
  z.object({ kind: z.literal('dp-sgd'), epsilon: z.union([positive('epsilon'), z.array(positive('epsilon')).min(1)]), delta: delta.default(1e-5), clipNorm: positive('clipNorm').default(1) }).strict(),
]);
export type TrainingDefenceSpec = z.infer<typeof trainingDefenceSchema>;

export type TrainingDefence =
  | { readonly kind: 'none'; readonly label: string }
  | { readonly kind: 'client-dp' | 'dp-sgd'; readonly label: string; readonly epsilon: number; readonly delta: number; readonly clipNorm: number };

export function expandTrainingDefences(specs: readonly TrainingDefenceSpec[]): TrainingDefence[] {
  return specs.flatMap((s): TrainingDefence[] => {
    if (s.kind === 'none') return [{ kind: 'none', label: 'none' }];
    const name = s.kind === 'client-dp' ? 'client-DP' : 'DP-SGD';
    return (Array.isArray(s.epsilon) ? s.epsilon : [s.epsilon]).map((epsilon) => ({ kind: s.kind, label: `${name} ε=${epsilon}`, epsilon, delta: s.delta, clipNorm: s.clipNorm }));
  });
}

export interface FederatedRun {
  readonly finalParams: Float32Array;
  /** θ_{R−1}: the global model the last round started from. */
  readonly previousParams: Float32Array;
  /** The last round's updates as the coordinator received them (after the client chain). */
  readonly lastUpdates: readonly Float32Array[];
  /** Client-level DP: z on the sum; DP-SGD: each participant's z. */
  readonly noiseMultiplier?: number;
  /** ε after all rounds (client-level: the federation's; DP-SGD: the largest participant's). */
  readonly epsilon?: number;
}

export async function trainFederated(
  model: LocalModel,
  initialParams: Float32Array,
  shards: readonly Dataset[],
  rounds: number,
  training: TrainingRecipe,
  defence: TrainingDefence,
  seed: string,
): Promise<FederatedRun> {
  if (shards.length === 0) fail('config', 'federated training needs at least one participant');
  if (!Number.isInteger(rounds) || rounds < 1) fail('config', `rounds must be a whole number ≥ 1, got ${rounds}`);
  const n = shards.length;
  let dp: DpConfig | undefined;
  let noise: ReturnType<typeof centralGaussianNoiseStage> | undefined;
  let noiseMultiplier: number | undefined;
  let epsilon: number | undefined;
  if (defence.kind === 'client-dp') {
    dp = dpConfigSchema.parse({ mode: 'client', epsilon: defence.epsilon, delta: defence.delta, clipNorm: defence.clipNorm });
    const resolved = resolveDpConfig(dp, { rounds, samplingRate: 1, population: n });
    noiseMultiplier = resolved.noiseMultiplier;
    epsilon = resolved.plannedEpsilon;
    noise = centralGaussianNoiseStage({ noiseMultiplier, clipNorm: defence.clipNorm, expectedParticipants: resolved.expectedParticipants ?? n });
  } else if (defence.kind === 'dp-sgd') {
    dp = dpConfigSchema.parse({ mode: 'sample', epsilon: defence.epsilon, delta: defence.delta, clipNorm: defence.clipNorm });
  }
  const trainers = shards.map((_, k) => (dp?.mode === 'sample' ? new DpSgdTrainer(`p${k}`, dp, rounds) : undefined));
  const participants = shards.map((data, k) => new Participant({
    id: `p${k}`,
    data,
    model,
    ...(defence.kind === 'client-dp' ? { clientChain: l2ClipStage({ clipNorm: defence.clipNorm }) } : {}),
    ...(trainers[k] ? { trainer: trainers[k] } : {}),
  }));

  let params: Float32Array = Float32Array.from(initialParams);
  let previous = params;
  let last: TrainReply[] = [];
  for (let round = 1; round <= rounds; round++) {
    last = [];
    for (const p of participants) last.push(await p.handle('train', { round, params, training, seed: `${seed}:${round}` }));
    let aggregate: Float32Array;
    if (noise) {
      // DP-FedAvg: the uniform mean of the clipped updates, then the noise of the fixed-denominator estimator.
      aggregate = weightedMean(last.map((r) => r.delta), last.map(() => 1));
      aggregate = (await noise.apply(aggregate, { round, actor: 'coordinator', numSamples: 0, contributors: n })) as Float32Array;
    } else {
      aggregate = weightedMean(last.map((r) => r.delta), last.map((r) => r.numSamples));
    }
    previous = params;
    params = add(params, aggregate);
  }
  model.setParams(params);
  if (defence.kind === 'dp-sgd') {
    epsilon = Math.max(...trainers.map((t) => t?.spent() ?? 0));
    if (dp) noiseMultiplier = participantDpPlan(dp, 'p0', shards[0]!.size, training, rounds).noiseMultiplier;
  }
  return {
    finalParams: params,
    previousParams: previous,
    lastUpdates: last.map((r) => r.delta),
    ...(noiseMultiplier !== undefined ? { noiseMultiplier } : {}),
    ...(epsilon !== undefined ? { epsilon } : {}),
  };
}

/** The local model a participant's last update implies: θ_{R−1} + Δ_k. */
export function participantModel(run: FederatedRun, k: number): Float32Array {
  const u = run.lastUpdates[k];
  if (!u) fail('precondition', `no participant ${k} in this run`);
  return add(run.previousParams, u);
}

/** The aggregate update of the last round (what secure aggregation reveals, as a mean). */
export function aggregateUpdate(run: FederatedRun): Float32Array {
  return sub(run.finalParams, run.previousParams);
}
