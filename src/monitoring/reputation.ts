/**
 * Contribution-quality reputation: a beta-reputation score (Jøsang & Ismail 2002) with forgetting.
 * Each round a participant earns 1 − p "good" and p "bad" evidence, p being the worst severity of
 * the findings about it (none 0, info 0, warning 0.5, critical 1); all evidence decays by `decay`
 * per round. Reputation = (good + 1) / (good + bad + 2): a newcomer starts at 0.5, steady clean
 * contributors approach 1, repeat offenders approach 0.
 *
 * `reputationWeighted` wraps any aggregator and scales contribution weights by reputation (the
 * evidence is from earlier rounds: an update never judges itself). Aggregators that ignore weights
 * (median, Krum) are only affected by exclusion.
 */
import { fail } from '../core/errors.js';
import type { AggregationResult, Aggregator, Contribution, ContributionDiagnostic } from '../aggregation/types.js';
import type { Finding } from '../federation/engine.js';
import type { ReputationConfig } from './config.js';

const PENALTY: Record<Finding['severity'], number> = { info: 0, warning: 0.5, critical: 1 };

/** The participants a finding is about: its subject, and members listed in its evidence. */
export function findingSubjects(f: Finding): string[] {
  const members = f.evidence.members;
  const listed = Array.isArray(members) ? members.filter((m): m is string => typeof m === 'string') : [];
  return [...new Set([...(f.subject ? f.subject.split(',') : []), ...listed])];
}

export class ReputationTracker {
  private readonly good = new Map<string, number>();
  private readonly bad = new Map<string, number>();

  constructor(private readonly config: Pick<ReputationConfig, 'decay'>) {
    if (!(config.decay > 0 && config.decay <= 1)) fail('config', `reputation decay must be in (0, 1], got ${config.decay}`);
  }

  reputation(id: string): number {
    const g = this.good.get(id) ?? 0;
    const b = this.bad.get(id) ?? 0;
    return (g + 1) / (g + b + 2);
  }

  /** Fold in one round: who took part, and what was found about them. */
  update(participants: readonly string[], findings: readonly Finding[]): void {
    for (const [id, g] of this.good) this.good.set(id, g * this.config.decay);
    for (const [id, b] of this.bad) this.bad.set(id, b * this.config.decay);
    const penalty = new Map<string, number>();
    for (const f of findings) {
      for (const id of findingSubjects(f)) penalty.set(id, Math.max(penalty.get(id) ?? 0, PENALTY[f.severity]));
    }
    for (const id of participants) {
      const p = penalty.get(id) ?? 0;
      this.good.set(id, (this.good.get(id) ?? 0) + 1 - p);
      this.bad.set(id, (this.bad.get(id) ?? 0) + p);
    }
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.good.keys()].sort().map((id) => [id, Math.round(this.reputation(id) * 1e4) / 1e4]));
  }
}

/** Reputation of a contribution: its participant's, or the mean of a bucket's members'. */
function contributionReputation(c: Contribution, tracker: ReputationTracker): number {
  const ids = c.members && c.members.length > 0 ? c.members : [c.id];
  return ids.reduce((s, id) => s + tracker.reputation(id), 0) / ids.length;
}

export function reputationWeighted(inner: Aggregator, tracker: ReputationTracker, config: Pick<ReputationConfig, 'exclude'>): Aggregator {
  return {
    name: `${inner.name}+reputation`,
    ...(inner.needsReference !== undefined ? { needsReference: inner.needsReference } : {}),
    ...(inner.requirement ? { requirement: inner.requirement.bind(inner) } : {}),
    aggregate(contributions, ctx): AggregationResult {
      const kept: Contribution[] = [];
      const excluded: ContributionDiagnostic[] = [];
      for (const c of contributions) {
        const r = contributionReputation(c, tracker);
        if (r < config.exclude) {
          excluded.push({ id: c.id, accepted: false, weight: 0, score: r, reason: `reputation ${r.toFixed(2)} is below monitoring.reputation.exclude ${config.exclude}` });
        } else kept.push({ ...c, weight: c.weight * r });
      }
      if (kept.length === 0) fail('precondition', `all ${contributions.length} contributions are excluded by reputation`, 'lower monitoring.reputation.exclude or investigate the flagged participants');
      const result = inner.aggregate(kept, ctx);
      return { aggregate: result.aggregate, diagnostics: [...result.diagnostics, ...excluded] };
    },
  };
}
