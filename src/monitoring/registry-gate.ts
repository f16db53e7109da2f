/**
 * The engine's PromotionGate for monitored runs: decides with `gateDecision` (and any gate it
 * wraps — both must agree), records every candidate in the model registry with its lineage, and
 * logs and alerts on rejections.
 */
import type { Vector } from '../core/vector.js';
import type { Evaluation, Finding, PromotionGate } from '../federation/engine.js';
import { alertFromRejection } from './alerts/alert.js';
import type { AlertDispatcher } from './alerts/alert-dispatcher.js';
import type { StructuredLog } from './alerts/structured-log.js';
import type { GateConfig } from './config.js';
import type { ModelRegistry, ProbeSummary } from './model-registry.js';
import { gateDecision } from './validation-gate.js';

export interface RegistryGateOptions {
  readonly config: GateConfig;
  readonly registry: ModelRegistry;
  readonly run: string;
  readonly log: StructuredLog;
  readonly alerts: AlertDispatcher;
  readonly probesOf?: (round: number) => ProbeSummary[];
  readonly inner?: PromotionGate;
  readonly clock?: () => Date;
}

export class RegistryGate implements PromotionGate {
  private last: { version: number; promoted: boolean } | undefined;
  private lastPromoted: number | undefined;

  constructor(private readonly o: RegistryGateOptions) {}

  /** Record the initial model as the first promoted version (the root of the lineage). */
  registerInitial(params: Vector, evaluation: Evaluation): void {
    const v = this.o.registry.register({ round: 0, params, status: 'promoted', evaluation, reasons: ['initial model'] });
    this.last = { version: v.version, promoted: true };
    this.lastPromoted = v.version;
  }

  async decide(
    candidate: { round: number; params: Vector; evaluation: Evaluation; findings: readonly Finding[] },
    promoted: { round: number; evaluation: Evaluation },
  ): Promise<{ promote: boolean; reasons: string[] }> {
    const own = gateDecision(candidate, promoted, this.o.config);
    const inner = this.o.inner ? await this.o.inner.decide(candidate, promoted) : { promote: true, reasons: [] };
    const promote = own.promote && inner.promote;
    const reasons = [...own.reasons, ...inner.reasons];
    const parent = this.last && (this.last.promoted || this.o.config.continueFrom === 'candidate') ? this.last.version : this.lastPromoted;
    const version = this.o.registry.register({
      round: candidate.round,
      params: candidate.params,
      status: promote ? 'promoted' : 'rejected',
      evaluation: candidate.evaluation,
      reasons,
      findings: candidate.findings,
      probes: this.o.probesOf?.(candidate.round) ?? [],
      ...(parent !== undefined ? { parent } : {}),
    });
    this.last = { version: version.version, promoted: promote };
    if (promote) this.lastPromoted = version.version;
    this.o.log.log(promote ? 'info' : 'critical', 'gate', {
      round: candidate.round, decision: promote ? 'promoted' : 'rejected', reasons, version: version.version, sha256: version.sha256,
      accuracy: candidate.evaluation.accuracy, promotedRound: promoted.round, promotedAccuracy: promoted.evaluation.accuracy,
    });
    if (!promote) this.o.alerts.emit(alertFromRejection(this.o.run, candidate.round, reasons, version, this.o.clock?.()));
    return { promote, reasons };
  }
}
