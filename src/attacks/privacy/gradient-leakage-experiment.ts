/**
 * The gradient-leakage grid: for every defence setting × batch size × trial, a participant computes
 * its message on B MNIST training digits at freshly initialised global parameters (round 0, the
 * setting of DLG/iDLG), the attacker observes it under the defence and runs
 *  - the iDLG label rule on the last layer (batch: classes with negative column sums),
 *  - 'idlg': gradient matching with those labels, 'dlg': with soft labels optimised jointly,
 *  - 'analytic': the closed-form first-dense-layer recovery (MLP victims only).
 * Reconstructions are scored against the digits behind the observation (all K·B of them under
 * secure aggregation) after an optimal assignment: PSNR, SSIM, and re-identification — whether
 * the nearest image (MSE) to the reconstruction among the originals plus `distractors` held-out
 * test digits is its own original.
 */
import { z } from 'zod';
import { fail } from '../../core/errors.js';
import { SeededRng } from '../../core/rng.js';
import type { Dataset } from '../../data/dataset.js';
import { featureSize, subset } from '../../data/dataset.js';
import { analyticRecovery } from './analytic-recovery.js';
import { invertGradient, type InversionOptimizer } from './gradient-inversion.js';
import { bestAssignment, clipToUnit, mse, psnr, ssim } from './image-metrics.js';
import { labelAccuracy, recoverBatchLabels } from './label-recovery.js';
import { leakageDefenceSchema, observe, resolveDefences } from './observation.js';
import { buildVictimModel, describeVictim, victimModelSchema } from './victim-models.js';

const optimizerSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('lbfgs'), iterations: z.number().int().min(1).max(10_000).default(100) }).strict(),
  z.object({ kind: z.literal('adam'), iterations: z.number().int().min(1).max(100_000).default(300), learningRate: z.number().positive().default(0.1) }).strict(),
]);

export const gradientLeakageSchema = z.object({
  victim: victimModelSchema.default({ kind: 'lenet', channels: 12, activation: 'sigmoid' }),
  /** 'gradient': the participant shares ḡ; 'fedsgd': one local SGD step's update Δ = −η·ḡ. */
  observation: z.enum(['gradient', 'fedsgd']).default('fedsgd'),
  learningRate: z.number().positive().max(100).default(0.1),
  batchSizes: z.array(z.number().int('batch sizes are whole numbers').min(1, 'batch sizes are 1…8').max(8, 'batch sizes are 1…8 (gradient inversion of larger batches is out of scope)')).min(1).default([1]),
  trials: z.number().int().min(1).max(100).default(4),
  /** Observations for the label rule alone (cheap: no reconstruction); at least `trials` are used. */
  labelTrials: z.number().int().min(0).max(1000).default(0),
  attacks: z.array(z.enum(['idlg', 'dlg', 'analytic'])).min(1).default(['idlg', 'dlg']),
  optimizer: optimizerSchema.default({ kind: 'lbfgs', iterations: 100 }),
  distance: z.enum(['l2', 'scaled-l2', 'cosine']).default('scaled-l2'),
  tv: z.number().min(0).default(0),
  /** Gradient matching is skipped when more examples than this are behind one observation. */
  maxDummyBatch: z.number().int().min(1).max(64).default(16),
  distractors: z.number().int().min(0).max(2000).default(500),
  defences: z.array(leakageDefenceSchema).min(1, 'list at least one defence, e.g. { kind: none }').default([{ kind: 'none' }]),
}).strict();
export type GradientLeakageConfig = z.infer<typeof gradientLeakageSchema>;

export type LeakageAttack = 'idlg' | 'dlg' | 'analytic';

export interface LeakageTrial {
  readonly defence: string;
  readonly batchSize: number;
  readonly trial: number;
  readonly attack: LeakageAttack;
  readonly psnr: number[];
  readonly ssim: number[];
  readonly reidentified: boolean[];
  readonly labelAccuracy: number;
  /** PSNR of the mean training digit against each original: a guess that knows only the data distribution. */
  readonly baselinePsnr: number[];
  readonly finalLoss: number | null;
  readonly ms: number;
}

export interface LeakageCell {
  readonly defence: string;
  readonly batchSize: number;
  readonly attack: LeakageAttack;
  /** Examples behind one observation (K·B). */
  readonly examples: number;
  readonly trials: number;
  readonly psnrMean: number;
  readonly psnrMedian: number;
  readonly psnrMax: number;
  readonly ssimMean: number;
  readonly reidentification: number;
  /** Mean PSNR of the mean-training-digit guess (the floor a reconstruction must beat). */
  readonly baselinePsnrMean: number;
  /** iDLG label rule on the observation (the same for every attack of a cell). */
  readonly labelAccuracy: number;
  /** Observations behind labelAccuracy (max(trials, labelTrials)). */
  readonly labelObservations: number;
  readonly meanSeconds: number;
  readonly noiseMultiplier?: number;
  readonly epsilon?: number;
  readonly skipped?: string;
}

export interface LeakageImages {
  readonly defence: string;
  readonly batchSize: number;
  readonly attack: LeakageAttack;
  readonly originals: Float32Array[];
  /** reconstructions[i] is matched with originals[i] (clipped to [0, 1]). */
  readonly reconstructions: Float32Array[];
  readonly psnr: number[];
}

export interface GradientLeakageResult {
  readonly victim: string;
  readonly parameters: number;
  readonly observation: 'gradient' | 'fedsgd';
  readonly cells: LeakageCell[];
  readonly trials: LeakageTrial[];
  readonly images: LeakageImages[];
}

export interface LeakageData {
  readonly train: Dataset;
  readonly test: Dataset;
}

const median = (v: readonly number[]): number => {
  if (v.length === 0) return NaN;
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const meanOf = (v: readonly number[]): number => (v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN);
/** PSNR is +∞ for exact copies; cap at 100 dB for averages (float32 round-off is ~140 dB). */
const capPsnr = (p: number): number => Math.min(p, 100);

interface Scored {
  psnr: number[];
  ssim: number[];
  reidentified: boolean[];
  matched: Float32Array[];
}

function score(originals: readonly Float32Array[], recon: readonly Float32Array[], distractors: readonly Float32Array[], shape: readonly number[]): Scored {
  const clipped = recon.map(clipToUnit);
  const assignment = bestAssignment(originals.map((o) => clipped.map((r) => -mse(o, r))));
  const ssimShape: [number, number, number] = shape.length === 3 ? [shape[0]!, shape[1]!, shape[2]!] : [1, shape[0]!, 1];
  const matched = assignment.map((j) => clipped[j]!);
  const pool = [...originals, ...distractors];
  return {
    matched,
    psnr: originals.map((o, i) => psnr(o, matched[i]!)),
    ssim: originals.map((o, i) => (shape.length === 3 && shape[0]! >= 7 && shape[1]! >= 7 ? ssim(o, matched[i]!, ssimShape) : NaN)),
    reidentified: originals.map((_, i) => {
      let best = -1;
      let bestD = Infinity;
      pool.forEach((p, k) => {
        const d = mse(p, matched[i]!);
        if (d < bestD) {
          bestD = d;
          best = k;
        }
      });
      return best === i;
    }),
  };
}

export type ProgressFn = (message: string) => void;

export async function runGradientLeakage(cfg: GradientLeakageConfig, data: LeakageData, seed: number | string, progress: ProgressFn = () => {}): Promise<GradientLeakageResult> {
  const { train, test } = data;
  const F = featureSize(train);
  const rng = SeededRng.from(seed, 'gradient-leakage');
  const model = await buildVictimModel(cfg.victim, train.featureShape, train.numClasses, `${seed}:victim`);
  // One fresh initialisation per trial (leakage at initialisation varies with the weights).
  const inits: Float32Array[] = [];
  for (let t = 0; t < cfg.trials; t++) {
    const m = await buildVictimModel(cfg.victim, train.featureShape, train.numClasses, `${seed}:victim:${t}`);
    inits.push(m.getParams());
    m.dispose();
  }
  const distractorIdx = rng.fork('distractors').sampleIndices(test.size, Math.min(cfg.distractors, test.size));
  const distractors = distractorIdx.map((i) => test.x.slice(i * F, (i + 1) * F));
  const meanDigit = new Float32Array(F);
  for (let i = 0; i < train.size; i++) for (let k = 0; k < F; k++) meanDigit[k]! += train.x[i * F + k]! / train.size;
  const optimizer: InversionOptimizer = cfg.optimizer;
  const hasDenseFirst = cfg.victim.kind === 'mlp' || (cfg.victim.kind === 'zoo' && (cfg.victim.spec.kind === 'mlp' || cfg.victim.spec.kind === 'logreg'));

  const cells: LeakageCell[] = [];
  const trials: LeakageTrial[] = [];
  const images: LeakageImages[] = [];
  try {
    for (const batchSize of cfg.batchSizes) {
      for (const defence of resolveDefences(cfg.defences, batchSize)) {
        const participants = defence.kind === 'secagg' && defence.spec.kind === 'secagg' ? defence.spec.participants : 1;
        const examples = participants * batchSize;
        if (examples > train.size) fail('config', `${examples} examples per observation exceed the ${train.size} training digits`);
        const perAttack = new Map<LeakageAttack, LeakageTrial[]>();
        const labelAccs: number[] = [];
        for (let t = 0; t < cfg.trials; t++) {
          const trng = rng.fork('cell', defence.label, batchSize, t);
          const idx = trng.fork('examples').sampleIndices(train.size, examples);
          const batches = Array.from({ length: participants }, (_, k) => subset(train, idx.slice(k * batchSize, (k + 1) * batchSize), `participant-${k}`));
          const obs = await observe(model, inits[t]!, batches[0]!, batches.slice(1), defence, cfg.observation, cfg.learningRate, trng.fork('observe'));
          model.setParams(inits[t]!);
          const truth = idx.map((i) => train.y[i]!);
          const originals = idx.map((i) => train.x.slice(i * F, (i + 1) * F));
          const labels = recoverBatchLabels(obs.gradient, model.layout, model.numClasses, examples);
          const labelAcc = labelAccuracy(labels, truth);
          labelAccs.push(labelAcc);
          for (const attack of cfg.attacks) {
            if (attack === 'analytic' && !hasDenseFirst) continue;
            if (attack !== 'analytic' && examples > cfg.maxDummyBatch) continue;
            const started = performance.now();
            let recon: Float32Array[];
            let finalLoss: number | null = null;
            if (attack === 'analytic') {
              recon = analyticRecovery(obs.gradient, model.layout, F, examples).map((c) => c.image);
              while (recon.length < examples) recon.push(new Float32Array(F).fill(0.5)); // nothing recovered: a blank guess
            } else {
              const r = invertGradient(model, obs.gradient, {
                batchSize: examples,
                ...(attack === 'idlg' ? { labels } : {}),
                distance: cfg.distance,
                tv: cfg.tv,
                optimizer,
                rng: trng.fork('dummy', attack),
                ...(obs.mask ? { mask: obs.mask } : {}),
                boxConstraint: true,
              });
              recon = r.images;
              finalLoss = r.finalLoss;
            }
            const ms = performance.now() - started;
            const s = score(originals, recon, distractors, train.featureShape);
            const baselinePsnr = originals.map((o) => psnr(o, meanDigit));
            const record: LeakageTrial = { defence: defence.label, batchSize, trial: t, attack, psnr: s.psnr, ssim: s.ssim, reidentified: s.reidentified, labelAccuracy: labelAcc, baselinePsnr, finalLoss, ms };
            trials.push(record);
            perAttack.set(attack, [...(perAttack.get(attack) ?? []), record]);
            if (t === 0) images.push({ defence: defence.label, batchSize, attack, originals, reconstructions: s.matched, psnr: s.psnr });
          }
        }
        // Extra observations for the label rule only (it costs one local step, not an optimisation).
        for (let t = cfg.trials; t < cfg.labelTrials; t++) {
          const trng = rng.fork('cell', defence.label, batchSize, t);
          const idx = trng.fork('examples').sampleIndices(train.size, examples);
          const batches = Array.from({ length: participants }, (_, k) => subset(train, idx.slice(k * batchSize, (k + 1) * batchSize), `participant-${k}`));
          const init = inits[t % inits.length]!;
          const obs = await observe(model, init, batches[0]!, batches.slice(1), defence, cfg.observation, cfg.learningRate, trng.fork('observe'));
          model.setParams(init);
          labelAccs.push(labelAccuracy(recoverBatchLabels(obs.gradient, model.layout, model.numClasses, examples), idx.map((i) => train.y[i]!)));
        }
        const dp = defence.kind === 'client-dp' || defence.kind === 'dp-sgd' ? { noiseMultiplier: defence.noiseMultiplier, epsilon: defence.epsilon } : {};
        for (const attack of cfg.attacks) {
          const rs = perAttack.get(attack) ?? [];
          const skipped = attack === 'analytic' && !hasDenseFirst
            ? `${describeVictim(cfg.victim)} has no dense first layer`
            : attack !== 'analytic' && examples > cfg.maxDummyBatch
              ? `${examples} examples behind one observation > maxDummyBatch ${cfg.maxDummyBatch}`
              : undefined;
          const ps = rs.flatMap((r) => r.psnr).map(capPsnr);
          cells.push({
            defence: defence.label,
            batchSize,
            attack,
            examples,
            trials: rs.length,
            psnrMean: meanOf(ps),
            psnrMedian: median(ps),
            psnrMax: ps.length ? Math.max(...ps) : NaN,
            ssimMean: meanOf(rs.flatMap((r) => r.ssim)),
            reidentification: meanOf(rs.flatMap((r) => r.reidentified.map((b) => (b ? 1 : 0)))),
            baselinePsnrMean: meanOf(rs.flatMap((r) => r.baselinePsnr)),
            labelAccuracy: meanOf(labelAccs),
            labelObservations: labelAccs.length,
            meanSeconds: meanOf(rs.map((r) => r.ms / 1000)),
            ...dp,
            ...(skipped ? { skipped } : {}),
          });
        }
        const shown = cells.slice(-cfg.attacks.length).filter((c) => !c.skipped).map((c) => `${c.attack} ${c.psnrMean.toFixed(1)} dB`).join(', ');
        progress(`gradient leakage  B=${batchSize}  ${defence.label.padEnd(18)} labels ${(meanOf(labelAccs) * 100).toFixed(0)}%  ${shown}`);
      }
    }
  } finally {
    model.dispose();
  }
  return { victim: describeVictim(cfg.victim), parameters: model.layout.size, observation: cfg.observation, cells, trials, images };
}

