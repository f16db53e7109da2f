/**
 * The red team's two kinds of attack. Update attacks replace the malicious participants' model
 * updates; data attacks poison a malicious participant's local data before it trains (and may
 * then transform the resulting update, e.g. boost a backdoor).
 */
import type { SeededRng } from '../core/rng.js';
import type { Vector } from '../core/vector.js';
import type { Dataset } from '../data/dataset.js';

export interface UpdateAttackContext {
  /**
   * Reference updates the attacker can see: the round's benign updates when the attack is
   * omniscient; otherwise the attackers' own honest updates computed on their own data.
   */
  readonly benign: readonly Vector[];
  /** The attacker's own honest update. */
  readonly own: Vector;
  /** Each malicious participant's own honest update, in the order of the output (optional). */
  readonly ownAll?: readonly Vector[];
  readonly numMalicious: number;
  /** All participants in the round, malicious included (n). */
  readonly numTotal: number;
  readonly rng: SeededRng;
}

export interface UpdateAttack {
  readonly kind: 'update';
  readonly name: string;
  /**
   * Each attacker can craft its update from its own honest update alone (no view of anyone
   * else's, no collusion), so a non-omniscient attack can run on the participant itself.
   */
  readonly independent?: boolean;
  /** One malicious update per malicious participant. */
  craft(ctx: UpdateAttackContext): Vector[];
}

export interface DataAttackContext {
  readonly numMalicious: number;
  readonly numTotal: number;
}

export interface DataAttack {
  readonly kind: 'data';
  readonly name: string;
  /** A poisoned copy of the attacker's local dataset (the input is not modified). */
  poison(data: Dataset, rng: SeededRng): Dataset;
  /** Transform the update trained on poisoned data before it is sent (e.g. model replacement). */
  transformUpdate?(update: Vector, ctx: DataAttackContext): Vector;
  /**
   * For targeted attacks: test examples relabelled with what the attacker wants them classified
   * as (a backdoor's triggered images of the other classes → the target). The attack success rate
   * is the fraction of them the model classifies that way.
   */
  successSet?(test: Dataset): Dataset;
}

export type Attack = UpdateAttack | DataAttack;
