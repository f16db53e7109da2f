/**
 * The server-side monitoring stage, a RoundInspector: per round it computes the signals, runs the
 * anomaly detectors and the backdoor probes, updates reputations, and logs and alerts on what it
 * found — all before the gate decides, so an alert is raised within the round that caused it.
 */
import type { Finding, RoundInspector, RoundView, Evaluation } from '../federation/engine.js';
import { detectAnomalies } from './anomaly-detectors.js';
import { alertFromFinding } from './alerts/alert.js';
import type { AlertDispatcher } from './alerts/alert-dispatcher.js';
import type { StructuredLog } from './alerts/structured-log.js';
import type { ProbeSetup } from './backdoor-probes.js';
import { runProbes } from './backdoor-probes.js';
import type { MonitoringConfig } from './config.js';
import type { ProbeSummary } from './model-registry.js';
import type { ReputationTracker } from './reputation.js';
import { ContributionHistory, computeSignals } from './signals.js';

export interface RoundMonitorOptions {
  readonly config: Pick<MonitoringConfig, 'detectors' | 'gate'>;
  readonly run: string;
  readonly seed: number | string;
  readonly reputation: ReputationTracker;
  readonly log: StructuredLog;
  readonly alerts: AlertDispatcher;
  readonly probes?: ProbeSetup;
  readonly clock?: () => Date;
}

export class RoundMonitor implements RoundInspector {
  private readonly history: ContributionHistory;
  private previous: { round: number; evaluation: Evaluation } | undefined;
  private readonly probeSummaries = new Map<number, ProbeSummary[]>();

  constructor(private readonly o: RoundMonitorOptions) {
    this.history = new ContributionHistory(o.seed);
  }

  /** The probe results of a round's candidate (for the model registry). */
  probesOf(round: number): ProbeSummary[] {
    return this.probeSummaries.get(round) ?? [];
  }

  inspect(view: RoundView): { findings: Finding[]; extra: Record<string, number> } {
    const baseline = this.baselineFor(view);
    const signals = computeSignals({
      round: view.round,
      contributions: view.contributions,
      aggregate: view.aggregation.aggregate,
      diagnostics: view.aggregation.diagnostics,
      evaluation: view.evaluation,
      baseline: baseline.evaluation,
      baselineRound: baseline.round,
    }, this.history, this.o.config.detectors.minHistory);
    const findings = detectAnomalies(signals, this.o.config.detectors);
    const extra: Record<string, number> = {};
    if (this.o.probes) {
      const probed = runProbes(this.o.probes, view);
      findings.push(...probed.findings);
      Object.assign(extra, probed.extra);
      this.probeSummaries.set(view.round, probed.summaries);
    }
    const ids = view.contributions.flatMap((c) => (c.members && c.members.length > 0 ? [...c.members] : [c.id]));
    this.o.reputation.update(ids, findings);
    this.previous = { round: view.round, evaluation: view.evaluation };

    for (const f of findings) {
      this.o.log.log(f.severity, 'finding', { round: f.round, type: f.type, subject: f.subject, message: f.message, evidence: f.evidence });
      this.o.alerts.emit(alertFromFinding(this.o.run, f, this.o.clock?.()));
    }
    this.o.log.log('info', 'round-signals', {
      round: view.round,
      accuracy: view.evaluation.accuracy,
      accuracyChange: signals.change.accuracy,
      baselineRound: signals.baselineRound,
      contributions: signals.contributions,
      reputation: this.o.reputation.snapshot(),
    });
    const reps = ids.map((id) => this.o.reputation.reputation(id));
    extra['monitor.findings'] = findings.filter((f) => f.severity !== 'info').length;
    if (reps.length > 0) extra['monitor.minReputation'] = Math.round(Math.min(...reps) * 1e4) / 1e4;
    return { findings, extra };
  }

  /**
   * The model this round started from: the previous candidate if it was promoted (or training
   * continues from candidates), else the last promoted model.
   */
  private baselineFor(view: RoundView): { round: number; evaluation: Evaluation } {
    const prev = this.previous;
    if (!prev) return view.promoted;
    if (view.promoted.round === prev.round || this.o.config.gate.continueFrom === 'candidate') return prev;
    return view.promoted;
  }
}
