/**
 * The participant side of differential privacy in a simulation, derived from the config alone (so
 * worker threads rebuild it):
 *
 * - mode 'client' (DP-FedAvg): clip the outgoing update to C — the bound the coordinator sends with
 *   each request (it moves under adaptive clipping), else privacy.clipNorm — and reply with the bit
 *   ‖Δ‖ ≤ C only.
 * - mode 'sample' (DP-SGD): local training is DP-SGD with this participant's own accountant. Each
 *   participant enforces its own ε ceiling (privacy.participantEpsilon[id], else privacy.epsilon):
 *   it refuses, with an error the coordinator records, to train a round that would exceed it, and
 *   it accounts for a round *before* training (fail closed: a round that fails half-way is still
 *   spent).
 */
import { fail } from '../core/errors.js';
import type { Dataset } from '../data/dataset.js';
import type { ClientFeature } from '../federation/client-pipeline.js';
import type { LocalTrainer } from '../federation/participant.js';
import type { LocalTrainingConfig, TrainRequest } from '../federation/protocol.js';
import type { LocalModel } from '../model/local-model.js';
import { PrivacyBudget } from './budget.js';
import { l2ClipStage } from './clip-stage.js';
import { resolveDpConfig, type DpConfig } from './config.js';
import { dpSgdSchedule, trainDpSgd, type DpSgdSchedule } from './dp-sgd.js';

export interface ParticipantDpPlan {
  readonly schedule: DpSgdSchedule;
  readonly noiseMultiplier: number;
  /** This participant's ε ceiling (undefined: ε is only tracked). */
  readonly epsilonCeiling: number | undefined;
  readonly delta: number;
  /** ε after all planned rounds if the participant trains in every one. */
  readonly plannedEpsilon: number;
}

const plans = new Map<string, ParticipantDpPlan>();

/**
 * A participant's DP-SGD plan: q = batchSize/n (or privacy.samplingRate), round(epochs/q) steps per
 * round, and z — given, or calibrated so that `rounds` rounds fit its ceiling. Public: the
 * coordinator can compute it from the same inputs.
 */
export function participantDpPlan(dp: DpConfig, id: string, examples: number, training: Pick<LocalTrainingConfig, 'epochs' | 'batchSize'>, rounds: number): ParticipantDpPlan {
  if (dp.mode !== 'sample') fail('internal', 'participantDpPlan is for sample-level DP');
  const schedule = dpSgdSchedule(examples, training, dp.samplingRate);
  const own = dp.participantEpsilon?.[id];
  const key = JSON.stringify([schedule, own ?? dp.epsilon ?? null, dp.noiseMultiplier ?? null, dp.delta, rounds]);
  const cached = plans.get(key);
  if (cached) return cached;
  const resolved = resolveDpConfig(
    { ...dp, ...(own !== undefined ? { epsilon: own } : {}) },
    { rounds, stepsPerRound: schedule.stepsPerRound, samplingRate: schedule.samplingRate },
  );
  const plan = { schedule, noiseMultiplier: resolved.noiseMultiplier, epsilonCeiling: resolved.epsilonBudget, delta: resolved.delta, plannedEpsilon: resolved.plannedEpsilon };
  plans.set(key, plan);
  return plan;
}

const fmt = (x: number): string => String(Number(x.toPrecision(4)));
const fmtDelta = (d: number): string => (d < 1e-3 ? d.toExponential() : String(d));

/** DP-SGD local training with this participant's accountant and ε ceiling. */
export class DpSgdTrainer implements LocalTrainer {
  private budget: PrivacyBudget | undefined;
  private noiseMultiplier: number | undefined;

  constructor(
    readonly id: string,
    private readonly dp: DpConfig,
    private readonly plannedRounds: number,
  ) {}

  /** ε spent so far (0 before the first round). */
  spent(): number {
    return this.budget?.spent() ?? 0;
  }

  async train(model: LocalModel, data: Dataset, request: TrainRequest): Promise<{ loss: number; metrics: { epsilon: number } }> {
    // z is fixed at the first round (calibrated for that round's schedule); the accountant then
    // records whatever each round really does.
    if (this.noiseMultiplier === undefined || !this.budget) {
      const plan = participantDpPlan(this.dp, this.id, data.size, request.training, this.plannedRounds);
      this.noiseMultiplier = plan.noiseMultiplier;
      this.budget = new PrivacyBudget({ ...(plan.epsilonCeiling !== undefined ? { epsilon: plan.epsilonCeiling } : {}), delta: plan.delta });
    }
    const budget = this.budget;
    const schedule = dpSgdSchedule(data.size, request.training, this.dp.samplingRate);
    const event = { round: request.round, noiseMultiplier: this.noiseMultiplier, samplingRate: schedule.samplingRate, steps: schedule.stepsPerRound };
    const check = budget.checkRound(event);
    if (!check.allowed) {
      fail(
        'budget',
        `participant ${this.id} refuses to train round ${request.round}: its ε would rise from ${fmt(budget.spent())} to ${fmt(check.epsilonAfter)} > its budget ${budget.epsilon} (δ = ${fmtDelta(budget.delta)})`,
        'the coordinator should stop asking it; raise privacy.epsilon / privacy.participantEpsilon or the noise multiplier to train longer',
      );
    }
    budget.recordRound(event);
    await trainDpSgd(model, data, request.training, {
      clipNorm: this.dp.clipNorm,
      noiseMultiplier: this.noiseMultiplier,
      samplingRate: schedule.samplingRate,
      steps: schedule.stepsPerRound,
    });
    // The raw training loss is a non-private function of the local data: it is not reported.
    return { loss: NaN, metrics: { epsilon: budget.spent() } };
  }
}

export const privacyClientFeature: ClientFeature = {
  name: 'privacy',
  stages(config) {
    const dp = config.privacy;
    return dp?.mode === 'client' ? [l2ClipStage({ clipNorm: dp.clipNorm })] : [];
  },
  trainer(config, id) {
    const dp = config.privacy;
    return dp?.mode === 'sample' ? new DpSgdTrainer(id, dp, config.rounds) : undefined;
  },
};
