/**
 * The attacker's side of a simulated participant (a ClientFeature, derived from the config alone so
 * worker threads rebuild it). Honest participants get nothing from it. A malicious one gets, in the
 * rounds its attack is active (see plan.ts for which attack runs where):
 *
 * - data attacks: poisoned local data. When the attack covers every round the poisoned copy simply
 *   replaces the data (composes with any local trainer, e.g. DP-SGD); when it has a window
 *   (startRound > 1 or an endRound) a trainer picks the clean or the poisoned copy per round —
 *   before startRound the attacker trains honestly.
 * - the backdoor's model-replacement boost, as the last stage on the outgoing delta;
 * - independent update attacks (sign flip, scaling, noise; not omniscient) as the last stage: the
 *   attacker rewrites its own honest delta.
 * Stages run after the honest ones (e.g. DP clipping): an attacker's scaled update is then
 * whatever the coordinator's own checks make of it.
 */
import { SeededRng } from '../core/rng.js';
import type { Vector } from '../core/vector.js';
import type { SimulationConfig } from '../config/simulation.js';
import type { Dataset } from '../data/dataset.js';
import type { ClientFeature } from '../federation/client-pipeline.js';
import type { LocalTrainer } from '../federation/participant.js';
import type { TrainRequest } from '../federation/protocol.js';
import type { UpdateStage } from '../federation/stages.js';
import type { LocalModel } from '../model/local-model.js';
import { isAttackActive, type AttackConfig } from './config.js';
import { attackPlanFor, type AttackPlan } from './plan.js';
import type { DataAttack, UpdateAttack } from './types.js';

function planIfMalicious(config: SimulationConfig, id: string): AttackPlan | undefined {
  const plan = attackPlanFor(config);
  return plan && plan.malicious.includes(id) ? plan : undefined;
}

/** Active in every round the run can have: the poisoned data can simply replace the clean data. */
function coversWholeRun(attack: AttackConfig, rounds: number): boolean {
  return attack.startRound <= 1 && (attack.endRound === undefined || attack.endRound >= rounds);
}

function poisoned(config: SimulationConfig, attack: DataAttack, id: string, data: Dataset): Dataset {
  return attack.poison(data, SeededRng.from(config.seed, 'attack-poison', id));
}

/** Trains on the poisoned copy in the attack's rounds and on the clean data otherwise. */
class PoisonWindowTrainer implements LocalTrainer {
  private copy: Dataset | undefined;

  constructor(
    private readonly config: SimulationConfig,
    private readonly plan: AttackPlan & { readonly attack: DataAttack },
    private readonly id: string,
  ) {}

  async train(model: LocalModel, data: Dataset, request: TrainRequest, rng: SeededRng): Promise<{ loss: number }> {
    let ds = data;
    if (isAttackActive(this.plan.config, request.round)) {
      this.copy ??= poisoned(this.config, this.plan.attack, this.id, data);
      ds = this.copy;
    }
    const { loss } = await model.train(ds, request.training, rng);
    return { loss };
  }
}

function dataAttackOf(plan: AttackPlan): DataAttack | undefined {
  return plan.attack.kind === 'data' ? plan.attack : undefined;
}

function participantStage(config: SimulationConfig, plan: AttackPlan, id: string): UpdateStage | undefined {
  const counts = { numMalicious: plan.expected.malicious, numTotal: plan.expected.total };
  const data = dataAttackOf(plan);
  let transform: ((update: Vector, round: number) => Vector) | undefined;
  if (data?.transformUpdate) {
    const boost = data.transformUpdate.bind(data);
    transform = (update) => boost(update, counts);
  } else if (plan.site === 'participant') {
    const attack = plan.attack as UpdateAttack;
    transform = (update, round) => attack.craft({ benign: [], own: update, ...counts, rng: SeededRng.from(config.seed, 'attack', id, round) })[0]!;
  }
  if (!transform) return undefined;
  const apply = transform;
  return {
    name: `attack:${plan.attack.name}`,
    apply: (update, ctx) => (isAttackActive(plan.config, ctx.round) ? apply(update, ctx.round) : update),
  };
}

export const attackClientFeature: ClientFeature = {
  name: 'attack',
  data(config, id, data) {
    const plan = planIfMalicious(config, id);
    const attack = plan && dataAttackOf(plan);
    if (!plan || !attack || !coversWholeRun(plan.config, config.rounds)) return data;
    return poisoned(config, attack, id, data);
  },
  trainer(config, id) {
    const plan = planIfMalicious(config, id);
    if (!plan || plan.attack.kind !== 'data' || coversWholeRun(plan.config, config.rounds)) return undefined;
    return new PoisonWindowTrainer(config, plan as AttackPlan & { readonly attack: DataAttack }, id);
  },
  stages(config, id) {
    const plan = planIfMalicious(config, id);
    const stage = plan && participantStage(config, plan, id);
    return stage ? [stage] : [];
  },
};
