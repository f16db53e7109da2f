/**
 * Model inversion against a federated model, per training defence: train on `members` MNIST
 * digits, invert every class (model-inversion.ts) and compare each inversion with the mean image
 * of that class in the training data — SSIM, cosine, PSNR — and check whether the nearest class
 * mean (cosine) is the right class. As a floor, the same metrics for the mean image of *all*
 * training digits (what knowing only the data distribution gives).
 */
import { z } from 'zod';
import { SeededRng } from '../../core/rng.js';
import { subset } from '../../data/dataset.js';
import { expandTrainingDefences, trainFederated, trainingDefenceSchema, trainingRecipeSchema } from './federated-training.js';
import type { LeakageData, ProgressFn } from './gradient-leakage-experiment.js';
import { cosineSimilarity, psnr, ssim } from './image-metrics.js';
import { classMeans, invertClass, nearestClassMean } from './model-inversion.js';
import { buildVictimModel, describeVictim, victimModelSchema } from './victim-models.js';

export const modelInversionSchema = z.object({
  victim: victimModelSchema.default({ kind: 'zoo', spec: { kind: 'logreg' } }),
  members: z.number().int().min(20).max(8000).default(2000),
  participants: z.number().int().min(1).max(100).default(4),
  rounds: z.number().int().min(1).max(1000).default(5),
  training: trainingRecipeSchema.default({ epochs: 2, batchSize: 32, learningRate: 0.1, optimizer: 'sgd' }),
  defences: z.array(trainingDefenceSchema).min(1).default([{ kind: 'none' }]),
  iterations: z.number().int().min(1).max(100_000).default(300),
  learningRate: z.number().positive().default(0.05),
  cost: z.enum(['one-minus-p', 'cross-entropy']).default('cross-entropy'),
  tv: z.number().min(0).default(0),
}).strict();
export type ModelInversionConfig = z.infer<typeof modelInversionSchema>;

export interface InversionClassResult {
  readonly cls: number;
  readonly confidence: number;
  readonly ssim: number;
  readonly cosine: number;
  readonly psnr: number;
  readonly nearestClass: number;
}

export interface InversionRow {
  readonly defence: string;
  readonly testAccuracy: number;
  readonly epsilon?: number;
  readonly ssimMean: number;
  readonly cosineMean: number;
  readonly psnrMean: number;
  /** Fraction of classes whose inversion is nearest (cosine) to its own class mean. */
  readonly identified: number;
  readonly classes: InversionClassResult[];
  readonly images: Float32Array[];
}

export interface ModelInversionResult {
  readonly victim: string;
  readonly classMeans: Float32Array[];
  /** The all-digit mean image scored against each class mean (the distribution-only floor). */
  readonly baseline: { readonly ssimMean: number; readonly cosineMean: number; readonly psnrMean: number };
  readonly rows: InversionRow[];
}

const mean = (v: readonly number[]): number => v.reduce((a, b) => a + b, 0) / v.length;

export async function runModelInversion(cfg: ModelInversionConfig, data: LeakageData, seed: number | string, progress: ProgressFn = () => {}): Promise<ModelInversionResult> {
  const { train, test } = data;
  const shape = train.featureShape;
  const ssimShape: [number, number, number] = [shape[0]!, shape[1]!, shape[2] ?? 1];
  const rng = SeededRng.from(seed, 'model-inversion');
  const idx = rng.fork('members').sampleIndices(train.size, Math.min(cfg.members, train.size));
  const members = subset(train, idx, 'members');
  const shards = Array.from({ length: cfg.participants }, (_, k) => subset(members, idx.map((_, i) => i).filter((i) => i % cfg.participants === k), `participant-${k}`));
  const { means } = classMeans(members);
  const all = classMeans({ ...members, y: new Int32Array(members.size), numClasses: 1 }).means[0]!;
  const baseline = {
    ssimMean: mean(means.map((m) => ssim(all, m, ssimShape))),
    cosineMean: mean(means.map((m) => cosineSimilarity(all, m))),
    psnrMean: mean(means.map((m) => psnr(all, m))),
  };
  const model = await buildVictimModel(cfg.victim, shape, train.numClasses, `${seed}:inversion`);
  const init = model.getParams();
  const rows: InversionRow[] = [];
  try {
    for (const defence of expandTrainingDefences(cfg.defences)) {
      const started = performance.now();
      const run = await trainFederated(model, init, shards, cfg.rounds, cfg.training, defence, `${seed}:inversion:${defence.label}`);
      model.setParams(run.finalParams);
      const testAccuracy = model.evaluate(test).accuracy;
      const classes: InversionClassResult[] = [];
      const images: Float32Array[] = [];
      for (let c = 0; c < train.numClasses; c++) {
        const r = invertClass(model, c, { iterations: cfg.iterations, learningRate: cfg.learningRate, cost: cfg.cost, tv: cfg.tv });
        images.push(r.image);
        classes.push({
          cls: c,
          confidence: r.confidence,
          ssim: ssim(r.image, means[c]!, ssimShape),
          cosine: cosineSimilarity(r.image, means[c]!),
          psnr: psnr(r.image, means[c]!),
          nearestClass: nearestClassMean(r.image, means),
        });
      }
      const row: InversionRow = {
        defence: defence.label,
        testAccuracy,
        ...(run.epsilon !== undefined ? { epsilon: run.epsilon } : {}),
        ssimMean: mean(classes.map((c) => c.ssim)),
        cosineMean: mean(classes.map((c) => c.cosine)),
        psnrMean: mean(classes.map((c) => c.psnr)),
        identified: mean(classes.map((c) => (c.nearestClass === c.cls ? 1 : 0))),
        classes,
        images,
      };
      rows.push(row);
      progress(`model inversion  ${defence.label.padEnd(16)} test acc ${(testAccuracy * 100).toFixed(1)}%  SSIM ${row.ssimMean.toFixed(3)}  cosine ${row.cosineMean.toFixed(3)}  identified ${(row.identified * 100).toFixed(0)}%  (${((performance.now() - started) / 1000).toFixed(0)} s)`);
    }
  } finally {
    model.dispose();
  }
  return { victim: describeVictim(cfg.victim), classMeans: means, baseline, rows };
}
