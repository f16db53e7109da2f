/**
 * Anomaly detectors over a round's signals. Each returns typed findings with the numbers that
 * triggered them, so an operator (or the gate) can see why. Thresholds are robust statistics
 * (modified z-scores) or absolute changes, from the `monitoring.detectors` config.
 */
import type { Finding } from '../federation/engine.js';
import type { DetectorConfig } from './config.js';
import { median } from './robust-stats.js';
import type { ContributionSignals, RoundSignals } from './signals.js';

export type FindingType =
  | 'norm-outlier'
  | 'direction-flip'
  | 'centre-outlier'
  | 'sybil-cluster'
  | 'aggregator-rejected'
  | 'accuracy-drop'
  | 'class-collapse'
  | 'backdoor-suspected'
  | 'backdoor-contributor'
  | 'poisoned-data-suspected';

const r4 = (v: number): number => Math.round(v * 1e4) / 1e4;

function subjectOf(c: ContributionSignals): { subject: string; members?: readonly string[] } {
  return c.members ? { subject: c.id, members: c.members } : { subject: c.id };
}

/**
 * Did the contribution reach the candidate? A finding about one the aggregator discarded (robust
 * rule, reputation exclusion) still counts against its participant, but not against the candidate.
 */
function aggregated(c: ContributionSignals): { aggregated: boolean } {
  return { aggregated: c.accepted !== false && (c.aggregatorWeight ?? 1) > 0 };
}

const discardedNote = (c: ContributionSignals): string => (aggregated(c).aggregated ? '' : ' (the aggregator discarded it)');

/** Updates much larger than the round's others, or than the contributor's own past ones. */
export function normOutliers(s: RoundSignals, cfg: DetectorConfig): Finding[] {
  if (s.contributions.length < 3) return [];
  const medianNorm = median(s.contributions.map((c) => c.norm));
  return s.contributions.flatMap((c): Finding[] => {
    const byRound = c.normZ > cfg.normZ;
    const byHistory = c.historyRatio !== undefined && c.historyRatio > cfg.historyRatio;
    if (!byRound && !byHistory) return [];
    const extreme = c.normZ > 3 * cfg.normZ || (c.historyRatio ?? 0) > 3 * cfg.historyRatio;
    // A contributor that is always this large (e.g. the one with the most data, hence the most
    // local steps) and is as large as usual is recorded, not alerted on — unless it is extreme.
    const asUsual = !extreme && !byHistory && c.historyRatio !== undefined && c.historyRatio < 1.5;
    const { subject, members } = subjectOf(c);
    return [{
      type: 'norm-outlier', severity: extreme ? 'critical' : asUsual ? 'info' : 'warning', round: s.round, subject,
      message: `update norm ${c.norm.toPrecision(3)} is ${(c.norm / (medianNorm || 1)).toFixed(1)}× the round's median` +
        (c.historyRatio !== undefined ? ` and ${c.historyRatio.toFixed(1)}× its own usual` : '') + discardedNote(c),
      evidence: {
        norm: r4(c.norm), normZ: r4(c.normZ), medianNorm: r4(medianNorm), threshold: cfg.normZ,
        ...(c.historyRatio !== undefined ? { historyRatio: r4(c.historyRatio), historyThreshold: cfg.historyRatio } : {}),
        ...aggregated(c),
        ...(members ? { members } : {}),
      },
    }];
  });
}

/** Updates pointing against the round's robust centre, or against their own recent direction. */
export function directionFlips(s: RoundSignals, cfg: DetectorConfig): Finding[] {
  if (s.contributions.length < 3) return [];
  return s.contributions.flatMap((c): Finding[] => {
    const vsCentre = c.cosineToCentre < cfg.flipCosine;
    const vsHistory = c.cosineToHistory !== undefined && c.cosineToHistory < cfg.flipCosine;
    if (!vsCentre && !vsHistory) return [];
    const { subject, members } = subjectOf(c);
    const what = [vsCentre ? `the round's robust centre (cosine ${c.cosineToCentre.toFixed(2)})` : '', vsHistory ? `its own recent updates (cosine ${c.cosineToHistory!.toFixed(2)})` : ''].filter(Boolean).join(' and ');
    return [{
      type: 'direction-flip', severity: vsCentre && vsHistory ? 'critical' : 'warning', round: s.round, subject,
      message: `update points against ${what}${discardedNote(c)}`,
      evidence: {
        cosineToCentre: r4(c.cosineToCentre), cosineToAggregate: r4(c.cosineToAggregate), threshold: cfg.flipCosine,
        ...(c.cosineToHistory !== undefined ? { cosineToHistory: r4(c.cosineToHistory) } : {}),
        ...aggregated(c),
        ...(members ? { members } : {}),
      },
    }];
  });
}

/** Updates far from the coordinate-wise median of the round (in distance, not only in norm). */
export function centreOutliers(s: RoundSignals, cfg: DetectorConfig): Finding[] {
  if (s.contributions.length < 3) return [];
  const medianDistance = median(s.contributions.map((c) => c.distanceToCentre));
  return s.contributions.flatMap((c): Finding[] => {
    if (!(c.centreZ > cfg.centreZ)) return [];
    const { subject, members } = subjectOf(c);
    return [{
      type: 'centre-outlier', severity: 'warning', round: s.round, subject,
      message: `update is ${(c.distanceToCentre / (medianDistance || 1)).toFixed(1)}× as far from the round's robust centre as the median update${discardedNote(c)}`,
      evidence: { distance: r4(c.distanceToCentre), centreZ: r4(c.centreZ), medianDistance: r4(medianDistance), threshold: cfg.centreZ, ...aggregated(c), ...(members ? { members } : {}) },
    }];
  });
}

/**
 * Groups of updates that are nearly identical to each other (connected components of the pairs
 * with cosine ≥ sybilCosine): independent participants on their own data do not produce these;
 * copies of one attacker (Sybils) do.
 */
export function sybilClusters(s: RoundSignals, cfg: DetectorConfig): Finding[] {
  const n = s.contributions.length;
  if (n < 2) return [];
  const parent = Array.from({ length: n }, (_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i]!)));
  for (let a = 0; a < n; a++) {
    for (let b = a + 1; b < n; b++) {
      if (s.pairwiseCosine[a * n + b]! >= cfg.sybilCosine && s.contributions[a]!.norm > 0 && s.contributions[b]!.norm > 0) parent[find(a)] = find(b);
    }
  }
  const groups = new Map<number, number[]>();
  for (let i = 0; i < n; i++) groups.set(find(i), [...(groups.get(find(i)) ?? []), i]);
  return [...groups.values()].filter((g) => g.length >= 2).map((g): Finding => {
    const ids = g.map((i) => s.contributions[i]!.id);
    let minCos = 1;
    for (const a of g) for (const b of g) if (a < b) minCos = Math.min(minCos, s.pairwiseCosine[a * n + b]!);
    return {
      type: 'sybil-cluster', severity: g.length >= 3 ? 'critical' : 'warning', round: s.round, subject: ids.join(','),
      message: `${g.length} updates are near-identical (pairwise cosine ≥ ${minCos.toFixed(3)}): ${ids.join(', ')}`,
      evidence: { members: ids, minCosine: r4(minCos), threshold: cfg.sybilCosine },
    };
  });
}

/** What a robust aggregator discarded, and why (informational: the aggregator already acted). */
export function aggregatorRejections(s: RoundSignals): Finding[] {
  return s.contributions.filter((c) => c.accepted === false).map((c): Finding => ({
    type: 'aggregator-rejected', severity: 'info', round: s.round, subject: c.id,
    message: `the aggregator discarded this update${c.rejectionReason ? `: ${c.rejectionReason}` : ''}`,
    evidence: { ...(c.aggregatorScore !== undefined ? { score: r4(c.aggregatorScore) } : {}), ...(c.rejectionReason ? { reason: c.rejectionReason } : {}) },
  }));
}

/** The candidate is markedly less accurate than the model the round started from. */
export function accuracyDrop(s: RoundSignals, cfg: DetectorConfig): Finding[] {
  const drop = -s.change.accuracy;
  if (!(drop > cfg.accuracyDrop)) return [];
  return [{
    type: 'accuracy-drop', severity: drop > cfg.criticalAccuracyDrop ? 'critical' : 'warning', round: s.round,
    message: `held-out accuracy fell from ${(s.baseline.accuracy * 100).toFixed(1)}% (round ${s.baselineRound}) to ${(s.evaluation.accuracy * 100).toFixed(1)}%`,
    evidence: { accuracy: r4(s.evaluation.accuracy), baseline: r4(s.baseline.accuracy), baselineRound: s.baselineRound, drop: r4(drop), threshold: cfg.accuracyDrop, lossChange: r4(s.change.loss) },
  }];
}

/** Classes whose accuracy fell by more than classDrop (a targeted or label-flipping attack's mark). */
export function classCollapses(s: RoundSignals, cfg: DetectorConfig): Finding[] {
  const classes: number[] = [];
  const drops: number[] = [];
  s.change.perClassAccuracy.forEach((d, k) => {
    if (Number.isFinite(d) && -d > cfg.classDrop) {
      classes.push(k);
      drops.push(r4(-d));
    }
  });
  if (classes.length === 0) return [];
  const worst = classes.map((k) => s.evaluation.perClassAccuracy[k]!);
  return [{
    type: 'class-collapse', severity: worst.some((a) => a < 0.1) ? 'critical' : 'warning', round: s.round, subject: classes.map((k) => `class ${k}`).join(','),
    message: `accuracy of class${classes.length > 1 ? 'es' : ''} ${classes.join(', ')} fell by ${drops.map((d) => `${(d * 100).toFixed(0)}`).join(', ')} points`,
    evidence: { classes, drops, accuracies: worst.map(r4), before: classes.map((k) => r4(s.baseline.perClassAccuracy[k]!)), threshold: cfg.classDrop },
  }];
}

export function detectAnomalies(s: RoundSignals, cfg: DetectorConfig): Finding[] {
  return [
    ...accuracyDrop(s, cfg),
    ...classCollapses(s, cfg),
    ...normOutliers(s, cfg),
    ...directionFlips(s, cfg),
    ...centreOutliers(s, cfg),
    ...sybilClusters(s, cfg),
    ...aggregatorRejections(s),
  ];
}
