/**
 * Membership inference against federated training. For each setting (how much data, how long it
 * trains) a candidate set U of 2·members MNIST training digits is drawn; the target federation
 * trains on a random half of U (split evenly over its participants) and the attack must tell the
 * two halves apart. Per training defence:
 *  - against the global model: the loss threshold (Yeom et al.) and LiRA with `shadows` shadow
 *    federations trained with the same recipe and defence on random halves of U;
 *  - against participant 0's last update, as the coordinator receives it (the local model
 *    θ_{R−1} + Δ_0; under client-level DP the coordinator adds the noise itself, so it sees the
 *    clipped Δ_0; under DP-SGD the update is already private): the loss threshold and the
 *    reference-calibrated loss with θ_{R−1} as the reference. Members are participant 0's digits,
 *    non-members the held-out half of U;
 *  - with secure aggregation (plain training), the coordinator sees only θ_R = θ_{R−1} + mean Δ:
 *    the same update attack on that.
 * Utility is reported with every row (test accuracy on the 2,000 held-out MNIST digits).
 */
import { z } from 'zod';
import { fail } from '../../core/errors.js';
import { SeededRng } from '../../core/rng.js';
import { subset, type Dataset } from '../../data/dataset.js';
import type { LocalModel } from '../../model/local-model.js';
import { expandTrainingDefences, participantModel, trainFederated, trainingDefenceSchema, trainingRecipeSchema, type FederatedRun, type TrainingDefence } from './federated-training.js';
import { exampleStats, liraScores, lossThresholdScores, referenceCalibratedScores } from './membership-inference.js';
import { aucNullSd, rocSummary, thinCurve, type RocPoint } from './roc.js';
import { buildVictimModel, describeVictim, victimModelSchema } from './victim-models.js';
import type { LeakageData, ProgressFn } from './gradient-leakage-experiment.js';

export const miaSettingSchema = z.object({
  name: z.string().min(1),
  /** Members (the target's training digits); the candidate set has twice as many. */
  members: z.number().int().min(20, 'members must be ≥ 20').max(4000, 'members must be ≤ 4000 (the candidate set of 2·members comes from the 8,000 MNIST training digits)'),
  participants: z.number().int().min(1).max(100).default(4),
  rounds: z.number().int().min(1).max(1000).default(5),
  training: trainingRecipeSchema.default({ epochs: 2, batchSize: 32, learningRate: 0.1, optimizer: 'sgd' }),
}).strict();
export type MiaSetting = z.infer<typeof miaSettingSchema>;

export const membershipInferenceSchema = z.object({
  victim: victimModelSchema.default({ kind: 'zoo', spec: { kind: 'mlp', hidden: [128] } }),
  settings: z.array(miaSettingSchema).min(1).default([
    { name: 'overfit', members: 200, participants: 4, rounds: 5, training: { epochs: 10, batchSize: 16, learningRate: 0.1, optimizer: 'sgd' } },
  ]),
  /** LiRA shadow federations per setting and defence (0 = no LiRA; otherwise ≥ 2). */
  shadows: z.number().int().min(0).max(16).refine((s) => s !== 1, 'LiRA needs at least 2 shadows (or 0 to skip it)').default(4),
  defences: z.array(trainingDefenceSchema).min(1, 'list at least one defence, e.g. { kind: none }').default([{ kind: 'none' }]),
  /** Also attack the participant update under secure aggregation (the coordinator sees only the sum). */
  secureAggregation: z.boolean().default(true),
}).strict().superRefine((c, ctx) => {
  c.settings.forEach((s, i) => {
    if (s.participants > s.members) ctx.addIssue({ code: 'custom', path: ['settings', i, 'participants'], message: `${s.participants} participants cannot share ${s.members} members; lower participants` });
  });
});
export type MembershipInferenceConfig = z.infer<typeof membershipInferenceSchema>;

export interface MiaRow {
  readonly setting: string;
  readonly defence: string;
  readonly target: 'global model' | 'participant update';
  readonly attack: 'loss threshold' | 'LiRA' | 'reference-calibrated';
  readonly auc: number;
  /** Spread of the AUC of a useless score on this many examples (roc.ts aucNullSd). */
  readonly aucNullSd: number;
  readonly tprAt1PctFpr: number;
  readonly tprAt01PctFpr: number;
  readonly members: number;
  readonly nonMembers: number;
  readonly testAccuracy: number;
  readonly trainAccuracy: number;
  readonly epsilon?: number;
  readonly noiseMultiplier?: number;
  readonly curve: RocPoint[];
}

export interface MembershipInferenceResult {
  readonly victim: string;
  readonly rows: MiaRow[];
}

function split<T>(items: readonly T[], parts: number): T[][] {
  const out: T[][] = Array.from({ length: parts }, () => []);
  items.forEach((v, i) => out[i % parts]!.push(v));
  return out;
}

function accuracy(model: LocalModel, params: Float32Array, data: Dataset): number {
  model.setParams(params);
  return model.evaluate(data).accuracy;
}

export async function runMembershipInference(cfg: MembershipInferenceConfig, data: LeakageData, seed: number | string, progress: ProgressFn = () => {}): Promise<MembershipInferenceResult> {
  const { train, test } = data;
  const rows: MiaRow[] = [];
  const model = await buildVictimModel(cfg.victim, train.featureShape, train.numClasses, `${seed}:mia`);
  const initFor = async (label: string): Promise<Float32Array> => {
    const m = await buildVictimModel(cfg.victim, train.featureShape, train.numClasses, `${seed}:mia:${label}`);
    const p = m.getParams();
    m.dispose();
    return p;
  };
  try {
    for (const setting of cfg.settings) {
      const rng = SeededRng.from(seed, 'mia', setting.name);
      const universeIdx = rng.fork('universe').sampleIndices(train.size, 2 * setting.members);
      if (universeIdx.length < 2 * setting.members) fail('config', `setting ${setting.name}: not enough training digits`);
      const universe = subset(train, universeIdx, `${setting.name}-candidates`);
      const halfMask = (r: SeededRng): boolean[] => {
        const pick = new Set(r.sampleIndices(universe.size, setting.members));
        return Array.from({ length: universe.size }, (_, i) => pick.has(i));
      };
      const shardIndices = (mask: readonly boolean[], r: SeededRng): number[][] =>
        split(r.shuffle(mask.flatMap((m, i) => (m ? [i] : []))), setting.participants);
      const toShards = (parts: readonly number[][]): Dataset[] => parts.map((idx, k) => subset(universe, idx, `participant-${k}`));
      const targetMask = halfMask(rng.fork('target'));
      const targetParts = shardIndices(targetMask, rng.fork('target-shards'));
      const targetShards = toShards(targetParts);
      // Participant 0's digits against the non-members, for the update attack.
      const p0 = targetParts[0]!;
      const nonMembers = targetMask.flatMap((m, i) => (m ? [] : [i]));
      const updateSet = subset(universe, [...p0, ...nonMembers], 'update-attack');
      const updateIsMember = [...p0.map(() => true), ...nonMembers.map(() => false)];
      const membersData = subset(universe, targetMask.flatMap((m, i) => (m ? [i] : [])), 'members');

      const train1 = async (shards: readonly Dataset[], defence: TrainingDefence, label: string): Promise<FederatedRun> =>
        trainFederated(model, await initFor(label), shards, setting.rounds, setting.training, defence, `${seed}:${setting.name}:${label}:${defence.label}`);

      for (const defence of expandTrainingDefences(cfg.defences)) {
        const started = performance.now();
        const run = await train1(targetShards, defence, 'target');
        const testAccuracy = accuracy(model, run.finalParams, test);
        const trainAccuracy = accuracy(model, run.finalParams, membersData);
        const dpInfo = {
          ...(run.epsilon !== undefined ? { epsilon: run.epsilon } : {}),
          ...(run.noiseMultiplier !== undefined ? { noiseMultiplier: run.noiseMultiplier } : {}),
        };
        const row = (target: MiaRow['target'], attack: MiaRow['attack'], scores: ArrayLike<number>, isMember: readonly boolean[], defenceLabel = defence.label): MiaRow => {
          const s = rocSummary(scores, isMember);
          return { setting: setting.name, defence: defenceLabel, target, attack, auc: s.auc, aucNullSd: aucNullSd(s.positives, s.negatives), tprAt1PctFpr: s.tprAt1PctFpr, tprAt01PctFpr: s.tprAt01PctFpr, members: s.positives, nonMembers: s.negatives, testAccuracy, trainAccuracy, ...dpInfo, curve: thinCurve(s.curve) };
        };
        model.setParams(run.finalParams);
        const global = exampleStats(model, universe);
        rows.push(row('global model', 'loss threshold', lossThresholdScores(global.loss), targetMask));

        if (cfg.shadows >= 2) {
          const shadowPhi: Float32Array[] = [];
          const shadowIn: boolean[][] = [];
          for (let s = 0; s < cfg.shadows; s++) {
            const mask = halfMask(rng.fork('shadow', s));
            const shadowRun = await train1(toShards(shardIndices(mask, rng.fork('shadow-shards', s))), defence, `shadow-${s}`);
            model.setParams(shadowRun.finalParams);
            shadowPhi.push(exampleStats(model, universe).phi);
            shadowIn.push(mask);
          }
          rows.push(row('global model', 'LiRA', liraScores(global.phi, shadowPhi, shadowIn), targetMask));
        }

        // The update of participant 0 as the coordinator receives it.
        model.setParams(run.previousParams);
        const reference = exampleStats(model, updateSet);
        model.setParams(participantModel(run, 0));
        const local = exampleStats(model, updateSet);
        rows.push(row('participant update', 'loss threshold', lossThresholdScores(local.loss), updateIsMember));
        rows.push(row('participant update', 'reference-calibrated', referenceCalibratedScores(local.loss, reference.loss), updateIsMember));
        if (cfg.secureAggregation && defence.kind === 'none') {
          model.setParams(run.finalParams);
          const aggregate = exampleStats(model, updateSet);
          const label = `secagg (K=${setting.participants})`;
          rows.push(row('participant update', 'loss threshold', lossThresholdScores(aggregate.loss), updateIsMember, label));
          rows.push(row('participant update', 'reference-calibrated', referenceCalibratedScores(aggregate.loss, reference.loss), updateIsMember, label));
        }
        const shown = rows.filter((r) => r.setting === setting.name && r.defence === defence.label).map((r) => `${r.target === 'global model' ? 'global' : 'update'}/${r.attack} ${r.auc.toFixed(3)}`).join(', ');
        progress(`membership  ${setting.name.padEnd(10)} ${defence.label.padEnd(16)} test acc ${(testAccuracy * 100).toFixed(1)}%  AUC ${shown}  (${((performance.now() - started) / 1000).toFixed(0)} s)`);
      }
    }
  } finally {
    model.dispose();
  }
  return { victim: describeVictim(cfg.victim), rows };
}
