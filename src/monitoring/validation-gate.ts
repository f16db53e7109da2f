/**
 * The validation gate's decision: a candidate is promoted only if it is not less accurate than the
 * last promoted model beyond a tolerance, loses no class beyond a limit, and no finding of a
 * blocking type and severity (a backdoor probe above its threshold, by default) was raised about it.
 * Fail closed: a non-finite evaluation is a rejection.
 */
import type { Evaluation, Finding } from '../federation/engine.js';
import type { GateConfig } from './config.js';

export interface GateCandidate {
  readonly round: number;
  readonly evaluation: Evaluation;
  readonly findings: readonly Finding[];
}

export interface GateDecision {
  readonly promote: boolean;
  readonly reasons: string[];
}

const pct = (v: number): string => `${(v * 100).toFixed(1)}%`;

export function gateDecision(
  candidate: GateCandidate,
  promoted: { readonly round: number; readonly evaluation: Evaluation },
  cfg: Pick<GateConfig, 'enabled' | 'accuracyTolerance' | 'classDropLimit' | 'blockOn' | 'blockSeverity'>,
): GateDecision {
  if (!cfg.enabled) return { promote: true, reasons: [] };
  const reasons: string[] = [];
  const c = candidate.evaluation;
  const p = promoted.evaluation;
  if (!Number.isFinite(c.accuracy) || !Number.isFinite(c.loss)) {
    reasons.push(`the candidate's evaluation is not finite (accuracy ${c.accuracy}, loss ${c.loss})`);
  } else if (c.accuracy < p.accuracy - cfg.accuracyTolerance) {
    reasons.push(`held-out accuracy ${pct(c.accuracy)} is below the promoted model's ${pct(p.accuracy)} (round ${promoted.round}) minus the tolerance ${pct(cfg.accuracyTolerance)}`);
  }
  c.perClassAccuracy.forEach((a, k) => {
    const before = p.perClassAccuracy[k];
    if (before === undefined || !Number.isFinite(before)) return;
    if (!Number.isFinite(a) || before - a > cfg.classDropLimit) {
      reasons.push(`class ${k} accuracy fell from ${pct(before)} to ${Number.isFinite(a) ? pct(a) : String(a)}, more than the class drop limit ${pct(cfg.classDropLimit)}`);
    }
  });
  const blocking = new Set(cfg.blockOn);
  for (const f of candidate.findings) {
    // A finding about an update the aggregator discarded says nothing against this candidate.
    if (f.evidence.aggregated === false) continue;
    if (blocking.has(f.type) && (f.severity === 'critical' || (cfg.blockSeverity === 'warning' && f.severity === 'warning'))) reasons.push(`${f.type}${f.subject ? ` (${f.subject})` : ''}: ${f.message}`);
  }
  return { promote: reasons.length === 0, reasons };
}
