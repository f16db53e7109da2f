/**
 * The adversary's and the referee's side of a simulated attack (a ServerFeature factory):
 *
 * - the simulated adversary: a ContributionInterceptor that rewrites the malicious participants'
 *   updates in the attack's rounds, from the benign updates (omniscient) or from the malicious
 *   participants' own honest updates only (not omniscient; see plan.ts);
 * - the attack success rate of targeted attacks (a backdoor's triggered test images of the other
 *   classes classified as the target), as Evaluation.extra.attackSuccessRate;
 * - per round, in RoundRecord.extra: `attackers`, the malicious updates in the round while the
 *   attack was active, and — for aggregators other than FedAvg — how well the aggregator singled
 *   them out: `flagPrecision` and `flagRecall`. A contribution counts as *flagged* when the
 *   aggregator rejected it or gave it less than half the uniform weight 1/n (n = contributions in
 *   the round). Precision is omitted in rounds where nothing was flagged.
 * It knows who is malicious because it is part of the simulation, not of the coordinator: nothing
 * here is visible to the aggregator.
 */
import { fail, FedsecError } from '../core/errors.js';
import { SeededRng } from '../core/rng.js';
import { mean, type Vector } from '../core/vector.js';
import type { Contribution, ContributionDiagnostic } from '../aggregation/types.js';
import type { Dataset } from '../data/dataset.js';
import type { ContributionInterceptor, EngineOptions, RoundInspector } from '../federation/engine.js';
import type { ServerFeature, ServerFeatureContext } from '../federation/server-pipeline.js';
import { isAttackActive } from './config.js';
import { attackPlanFor, type AttackPlan } from './plan.js';
import type { UpdateAttack } from './types.js';

/** Flagged: rejected, or weighted below half of uniform. */
export function isFlagged(d: ContributionDiagnostic, n: number): boolean {
  return !d.accepted || d.weight < 0.5 / n;
}

/** Precision and recall of flagging the malicious contributions of one round. */
export function flaggingScores(diagnostics: readonly ContributionDiagnostic[], malicious: ReadonlySet<string>): { precision?: number; recall?: number } {
  const n = diagnostics.length;
  const present = diagnostics.filter((d) => malicious.has(d.id)).length;
  const flagged = diagnostics.filter((d) => isFlagged(d, n));
  const hits = flagged.filter((d) => malicious.has(d.id)).length;
  return {
    ...(flagged.length > 0 ? { precision: hits / flagged.length } : {}),
    ...(present > 0 ? { recall: hits / present } : {}),
  };
}

/** Rewrites the malicious participants' updates with the attack's crafted ones. */
export class AdversaryInterceptor implements ContributionInterceptor {
  /** Round → how many updates were rewritten. */
  readonly rewritten = new Map<number, number>();

  constructor(
    private readonly plan: AttackPlan & { readonly attack: UpdateAttack },
    private readonly seed: number | string,
  ) {}

  intercept(round: number, contributions: Contribution[]): Contribution[] {
    const { plan } = this;
    if (!isAttackActive(plan.config, round)) return contributions;
    if (contributions.some((c) => c.members !== undefined)) {
      fail(
        'config',
        `attack "${plan.attack.name}" rewrites individual updates on the way to the aggregator, but secure aggregation only reveals bucket sums`,
        'with secure aggregation use a data attack (label-flip, backdoor) or sign-flip/scaling/gaussian-noise with omniscient: false, which run on the participant',
      );
    }
    const malicious = new Set(plan.malicious);
    const bad = contributions.flatMap((c, i) => (malicious.has(c.id) ? [i] : []));
    if (bad.length === 0) return contributions;
    const own = bad.map((i) => contributions[i]!.update);
    const benign = plan.config.omniscient ? contributions.filter((c) => !malicious.has(c.id)).map((c) => c.update) : own;
    let crafted: Vector[];
    try {
      crafted = plan.attack.craft({
        benign,
        // Colluding attackers pool their knowledge: a shared own update (what Sybil copies) is their mean.
        own: own.length === 1 ? own[0]! : mean(own),
        ownAll: own,
        numMalicious: bad.length,
        numTotal: contributions.length,
        rng: SeededRng.from(this.seed, 'attack', round),
      });
    } catch (err) {
      if (err instanceof FedsecError) {
        throw new FedsecError(err.code, `round ${round}: the simulated adversary could not craft "${plan.attack.name}" from ${benign.length} reference update(s) (${bad.length} malicious of ${contributions.length}): ${err.message}`);
      }
      throw err;
    }
    if (crafted.length !== bad.length) fail('internal', `attack "${plan.attack.name}" crafted ${crafted.length} updates for ${bad.length} attackers`);
    this.rewritten.set(round, bad.length);
    const out = contributions.slice();
    bad.forEach((i, k) => {
      out[i] = { ...contributions[i]!, update: crafted[k]! };
    });
    return out;
  }
}

/** Chain interceptors: the adversary first (it sits closest to the wire), then any existing one. */
function withInterceptor(options: EngineOptions, first: ContributionInterceptor): EngineOptions {
  const next = options.interceptor;
  return {
    ...options,
    interceptor: next ? { intercept: async (round, cs) => next.intercept(round, await first.intercept(round, cs)) } : first,
  };
}

export function attackServerFeature(ctx: ServerFeatureContext): ServerFeature | undefined {
  const plan = attackPlanFor(ctx.config);
  if (!plan) return undefined;
  const unknown = plan.malicious.filter((id) => !ctx.data.participantIds.includes(id));
  if (unknown.length > 0) fail('internal', `malicious ids ${unknown.join(', ')} are not simulated participants`);
  const malicious = new Set(plan.malicious);
  const adversary = plan.site === 'adversary' ? new AdversaryInterceptor(plan as AttackPlan & { readonly attack: UpdateAttack }, ctx.config.seed) : undefined;

  let successSet: Dataset | undefined;
  if (plan.attack.kind === 'data' && plan.attack.successSet) {
    successSet = plan.attack.successSet(ctx.data.test);
    if (successSet.size === 0) fail('config', `attack "${plan.attack.name}" leaves no test example to measure its success on`);
  }

  return {
    name: 'attack',
    configure(options) {
      if (adversary && options.collector) {
        fail(
          'config',
          `attack "${plan.attack.name}" (omniscient: ${plan.config.omniscient}) is played by a simulated adversary that rewrites individual updates, which a custom update collector (secure aggregation) hides`,
          'use a data attack, or sign-flip/scaling/gaussian-noise with omniscient: false',
        );
      }
      const scoreFlags = options.aggregator.name !== 'fedavg';
      const inspector: RoundInspector = {
        inspect(view) {
          if (!isAttackActive(plan.config, view.round)) return {};
          const present = view.contributions.filter((c) => malicious.has(c.id)).length;
          const extra: Record<string, number> = { attackers: adversary ? (adversary.rewritten.get(view.round) ?? 0) : present };
          adversary?.rewritten.delete(view.round);
          // Under secure aggregation the diagnostics are per bucket: no participant to score.
          if (scoreFlags && present > 0 && view.contributions.every((c) => c.members === undefined)) {
            const { precision, recall } = flaggingScores(view.aggregation.diagnostics, malicious);
            if (precision !== undefined) extra.flagPrecision = precision;
            if (recall !== undefined) extra.flagRecall = recall;
          }
          return { extra };
        },
      };
      const withInspector = { ...options, inspectors: [...(options.inspectors ?? []), inspector] };
      return adversary ? withInterceptor(withInspector, adversary) : withInspector;
    },
    ...(successSet
      ? {
          evaluate(model) {
            const set = successSet!;
            const predicted = model.predict(set);
            let hits = 0;
            for (let i = 0; i < set.size; i++) if (predicted[i] === set.y[i]) hits++;
            return { attackSuccessRate: hits / set.size };
          },
        }
      : {}),
  };
}
