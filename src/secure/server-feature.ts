/**
 * Secure aggregation in a simulation (a ServerFeature factory, on when the config has a
 * `secureAggregation` section): installs the SecAgg collector and refuses, before any training,
 * the combinations that cannot work — an aggregator that needs individual updates without buckets,
 * too few buckets for the aggregator's f, adaptive clipping (its per-participant bit would have to
 * be aggregated securely too), weights that do not fit the field.
 *
 * Composition, in pipeline order: the client chain (clip, local noise, attacks) runs before
 * quantisation on the participant; privacy's server feature (which runs first) sets uniform
 * weights and its noise stage works on the unmasked mean exactly as on the plain one; with
 * `distributedNoise` the participants add the noise and the privacy feature only divides by m.
 */
import { createAggregator } from '../aggregation/registry.js';
import { attackPlanFor } from '../attacks/plan.js';
import { fail } from '../core/errors.js';
import type { EngineOptions } from '../federation/engine.js';
import type { ServerFeature, ServerFeatureContext } from '../federation/server-pipeline.js';
import { SecAggCollector } from './collector.js';
import { levelsPerParticipant } from './quantise.js';
import { distributedNoisePlan, plannedParticipantsPerRound, plannedShape, quantisationClip } from './simulation-config.js';

export function secureAggregationServerFeature(ctx: ServerFeatureContext): ServerFeature | undefined {
  const { config } = ctx;
  const cfg = config.secureAggregation;
  if (!cfg) return undefined;
  const perRound = plannedParticipantsPerRound(config);
  const noise = distributedNoisePlan(config);
  plannedShape(config, noise?.minSurvivors ?? 0);

  const aggregation = config.aggregation.name;
  if (cfg.bucketSize === undefined && aggregation !== 'fedavg') {
    const min = createAggregator(config.aggregation).requirement?.(config.byzantine).min ?? 1;
    // Suggest a size that gives the aggregator what it needs, and at least 3 buckets to choose from.
    const s = Math.floor(perRound / Math.max(3, min));
    fail(
      'config',
      `aggregation '${aggregation}' needs individual updates, but secure aggregation reveals only their sum`,
      s >= 3
        ? `set secureAggregation.bucketSize, e.g. ${s} (${Math.floor(perRound / s)} buckets of the ${perRound} participants per round), so it runs over bucket means; or use aggregation fedavg`
        : 'use aggregation fedavg, or more participants per round so buckets of ≥ 3 can be formed',
    );
  }
  if (cfg.bucketSize !== undefined) {
    if (aggregation === 'bucketing') {
      fail('config', "aggregation 'bucketing' buckets individual updates, which secure aggregation does not reveal", "secureAggregation.bucketSize already buckets: configure the inner rule as the aggregation (e.g. { name: median })");
    }
    const requirement = createAggregator(config.aggregation).requirement?.(config.byzantine);
    const buckets = Math.floor(perRound / cfg.bucketSize);
    if (requirement && buckets < requirement.min) {
      const fit = Math.floor(perRound / requirement.min);
      fail(
        'config',
        `${perRound} participants per round in buckets of ≥ ${cfg.bucketSize} give ${buckets} bucket(s), but ${aggregation} with byzantine ${config.byzantine} needs ${requirement.rule} (${requirement.min} contributions)`,
        fit >= 3 ? `use secureAggregation.bucketSize ≤ ${fit}` : `sample at least ${requirement.min * 3} participants per round, or lower byzantine`,
      );
    }
  }
  const attack = attackPlanFor(config);
  if (attack?.site === 'adversary') {
    fail(
      'config',
      `attack "${attack.attack.name}" rewrites individual updates on the way to the aggregator, but secure aggregation only reveals sums`,
      'with secure aggregation use a data attack (label-flip, backdoor) or sign-flip/scaling/gaussian-noise with omniscient: false, which run on the participant',
    );
  }
  if (config.privacy?.mode === 'client' && config.privacy.adaptiveClipping) {
    fail(
      'config',
      "adaptive clipping needs each participant's bit ‖Δ‖ ≤ C, which secure aggregation keeps from the coordinator",
      'use a fixed privacy.clipNorm with secureAggregation (remove privacy.adaptiveClipping)',
    );
  }
  const unknown = (cfg.simulateDropouts?.participants ?? []).filter((id) => !ctx.data.participantIds.includes(id));
  if (unknown.length > 0) fail('config', `secureAggregation.simulateDropouts.participants names unknown participants: ${unknown.join(', ')}`, `ids run from ${ctx.data.participantIds[0]} to ${ctx.data.participantIds.at(-1)}`);

  const collector = new SecAggCollector({ config: cfg, clip: quantisationClip(config), seed: config.seed, ...(noise ? { minSurvivorsFloor: noise.minSurvivors } : {}) });
  return {
    name: 'secureAggregation',
    configure(options: EngineOptions): EngineOptions {
      if (options.collector) fail('config', 'two features install an update collector; secure aggregation must be the only one');
      if ((options.weighting ?? 'samples') === 'samples') {
        // Weights are sample counts: they must fit the field next to the values.
        const largest = Math.min(Math.max(...ctx.data.partitions.map((p) => p.length)), cfg.maxWeight ?? Infinity);
        const session = cfg.bucketSize !== undefined ? 2 * cfg.bucketSize - 1 : perRound;
        const levels = levelsPerParticipant(cfg.modulusBits, session);
        if (largest > levels) {
          fail('config', `a participant holds ${largest} samples, more than the ${levels} levels a ${cfg.modulusBits}-bit sum of ${session} participants leaves for its weight`, `set secureAggregation.maxWeight ≤ ${levels} (caps each weight) or raise modulusBits`);
        }
      }
      return { ...options, collector };
    },
  };
}
