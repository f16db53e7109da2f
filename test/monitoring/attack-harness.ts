/**
 * Until the attack section is wired into the simulation config, tests (and the measurements in
 * docs/monitoring.md) attach the red team's real backdoor / scaling attacks to a simulation by
 * registering a client feature (poisoned data + boosted update) and a server feature (interceptor,
 * attack success rate) for the duration of one run. In-process participants only (workers: 0).
 */
import { applyTrigger, backdoor, backdoorTestSet, type Trigger } from '../../src/attacks/backdoor.js';
import { SeededRng } from '../../src/core/rng.js';
import { scale } from '../../src/core/vector.js';
import type { ClientFeature } from '../../src/federation/client-pipeline.js';
import { clientFeatures } from '../../src/federation/client-pipeline.js';
import type { ServerFeatureFactory } from '../../src/federation/server-pipeline.js';
import { serverFeatureFactories } from '../../src/federation/server-pipeline.js';
import { subset } from '../../src/data/dataset.js';

export const TRIGGER: Trigger = { size: 4, position: 'bottom-right', margin: 1, value: 1 };

export interface BackdoorPlan {
  readonly attackers: readonly string[];
  readonly target: number;
  readonly poisonFraction: number;
  /** Update boost γ (1 = none); model replacement is n / (η·k). */
  readonly boost: number;
  readonly fromRound?: number;
}

export interface ScalingPlan {
  readonly attackers: readonly string[];
  readonly factor: number;
  readonly rounds: readonly number[];
}

async function withFeatures<T>(client: ClientFeature | undefined, server: ServerFeatureFactory | undefined, run: () => Promise<T>): Promise<T> {
  if (client) clientFeatures.push(client);
  if (server) serverFeatureFactories.unshift(server);
  try {
    return await run();
  } finally {
    if (client) clientFeatures.splice(clientFeatures.indexOf(client), 1);
    if (server) serverFeatureFactories.splice(serverFeatureFactories.indexOf(server), 1);
  }
}

/** Run `run` with a pixel-backdoor attacker set; candidates get `backdoor.asr` in evaluation.extra. */
export function withBackdoor<T>(plan: BackdoorPlan, run: () => Promise<T>): Promise<T> {
  const attack = backdoor({ targetLabel: plan.target, trigger: TRIGGER, poisonFraction: plan.poisonFraction, mode: 'replace', boost: plan.boost, serverLearningRate: 1 });
  const client: ClientFeature = {
    name: 'test-backdoor',
    data: (config, id, data) => (plan.attackers.includes(id) ? attack.poison(data, SeededRng.from(config.seed, 'poison', id)) : data),
    stages: (_config, id) => (plan.attackers.includes(id)
      ? [{ name: 'boost', apply: (u, ctx) => (ctx.round >= (plan.fromRound ?? 1) ? scale(u, plan.boost) : u) }]
      : []),
  };
  const server: ServerFeatureFactory = (ctx) => {
    const triggered = backdoorTestSet(ctx.data.test, plan.target, TRIGGER);
    return {
      name: 'test-backdoor-asr',
      evaluate: (model) => {
        const pred = model.predict(triggered);
        return { 'backdoor.asr': pred.filter((p) => p === plan.target).length / Math.max(1, pred.length) };
      },
    };
  };
  return withFeatures(client, server, run);
}

/** Run `run` with attackers whose updates are multiplied by `factor` in the given rounds. */
export function withScaling<T>(plan: ScalingPlan, run: () => Promise<T>): Promise<T> {
  const server: ServerFeatureFactory = () => ({
    name: 'test-scaling',
    configure: (options) => ({
      ...options,
      interceptor: {
        intercept: (round, cs) => (plan.rounds.includes(round) ? cs.map((c) => (plan.attackers.includes(c.id) ? { ...c, update: scale(c.update, plan.factor) } : c)) : cs),
      },
    }),
  });
  return withFeatures(undefined, server, run);
}

export { applyTrigger, subset };
