/**
 * How a simulation's `attack` section plays out, derived from the config alone (worker threads
 * derive the same plan): who is malicious, and where each kind of attack is carried out.
 *
 * - Data attacks (label flip, backdoor) poison the malicious participants' local data before they
 *   train; the backdoor's model-replacement boost then runs on their outgoing delta.
 * - Update attacks that each attacker can craft from its own honest update alone (sign flip,
 *   scaling, Gaussian noise), when not omniscient, run on the participant as the last stage of its
 *   client chain — what a real compromised client would do, and they work under secure aggregation.
 * - Every other update attack runs in the simulated adversary (a ContributionInterceptor between
 *   collection and aggregation), which rewrites the malicious participants' updates:
 *     omniscient: true  — the adversary sees the round's benign updates (the strongest threat model
 *                         of ALIE, IPM, min-max/min-sum);
 *     omniscient: false — "non-omniscient" in fedsec means the malicious participants collude but
 *                         see only *their own* honest updates, trained on their own data: the
 *                         adversary's reference set is the malicious participants' honest updates of
 *                         the round, never a benign participant's.
 *   Sybil identities always collude (one adversary behind k identities), so Sybil attacks run there.
 */
import type { SimulationConfig } from '../config/simulation.js';
import { createAttack } from './registry.js';
import { selectMalicious, type AttackConfig } from './config.js';
import type { Attack } from './types.js';

export type AttackSite = 'data' | 'participant' | 'adversary';

export interface AttackPlan {
  readonly config: AttackConfig;
  readonly attack: Attack;
  /** The malicious participants' ids, sorted. */
  readonly malicious: readonly string[];
  readonly site: AttackSite;
  /** Participants in a round and malicious ones among them, as a participant-side attacker expects them. */
  readonly expected: { readonly total: number; readonly malicious: number };
}

/**
 * The simulated participants' ids, p01…pN — the formula of simulation-setup's participantIds,
 * repeated here because importing that module would close an import cycle through the client
 * pipeline (a test checks that the two agree).
 */
export function simulatedIds(count: number): string[] {
  const width = String(count).length;
  return Array.from({ length: count }, (_, i) => `p${String(i + 1).padStart(width, '0')}`);
}

/** A participant-side attacker does not see the round; it assumes the expected counts. */
function expectedCounts(config: SimulationConfig, k: number): AttackPlan['expected'] {
  const n = config.participants;
  const s = config.sampling;
  switch (s.kind) {
    case 'all':
      return { total: n, malicious: k };
    case 'fixed':
      return { total: s.perRound, malicious: Math.max(1, Math.min(s.perRound, Math.round((k * s.perRound) / n))) };
    case 'poisson':
      return { total: Math.max(1, Math.round(s.rate * n)), malicious: Math.max(1, Math.round(s.rate * k)) };
  }
}

const plans = new WeakMap<SimulationConfig, AttackPlan | undefined>();

/** The plan of a config's attack section; undefined when there is none (or nobody is malicious). */
export function attackPlanFor(config: SimulationConfig): AttackPlan | undefined {
  if (plans.has(config)) return plans.get(config);
  const section = config.attack;
  let plan: AttackPlan | undefined;
  if (section) {
    const malicious = selectMalicious(simulatedIds(config.participants), section.malicious, config.seed);
    if (malicious.length > 0) {
      const attack = createAttack(section.attack);
      const site: AttackSite = attack.kind === 'data' ? 'data' : !section.omniscient && attack.independent === true ? 'participant' : 'adversary';
      plan = { config: section, attack, malicious, site, expected: expectedCounts(config, malicious.length) };
    }
  }
  plans.set(config, plan);
  return plan;
}
