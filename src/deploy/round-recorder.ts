/**
 * Makes the round engine's progress durable: each round is begun in the store and audit-logged
 * when it starts, and committed (model version, metrics, per-participant metrics, timings, audit
 * head) when it ends, with the aggregation decision and the promotion (or rejection) in the audit
 * log. The engine itself stays transport- and storage-agnostic: this is an observer plus a gate
 * wrapper (the gate is where the engine shows a round's candidate parameters).
 *
 * A committed round stores its candidate (status promoted or rejected by the gate) or, when the
 * round was skipped, the unchanged model (status candidate). A restarted coordinator resumes from
 * the last committed round's model, or from the last promoted one when continueFrom is
 * 'promoted' — the engine's own rule — so it continues exactly where it left off.
 *
 * Audit order per round: round.started → aggregation.decision → [store commit, anchored at that
 * head] → model.promoted | model.rejected → round.committed. The last two are covered by the next
 * round's anchor; a crash between the commit and them is repaired at restart (recoverAudit).
 */
import type { AuditLog } from '../audit/audit-log.js';
import { scanAuditLog } from '../audit/verify-audit-log.js';
import { serializeParams, type ParamLayout } from '../core/params.js';
import type { Vector } from '../core/vector.js';
import type { PromotionGate, RoundObserver, RoundRecord } from '../federation/engine.js';
import type { CoordinatorStore } from '../store/coordinator-store.js';

const ACTOR = 'coordinator';

export interface RecorderOptions {
  readonly store: CoordinatorStore;
  readonly audit: AuditLog;
  readonly layout: ParamLayout;
  readonly aggregator: string;
  readonly continueFrom: 'candidate' | 'promoted';
  /** The parameters the first round to run starts from, and the last promoted ones. */
  readonly current: Vector;
  readonly promoted: Vector;
  readonly onCommitted?: (info: { readonly round: number; readonly modelVersion: number; readonly sha256: string; readonly record: RoundRecord }) => void;
}

const finite = (rec: Record<string, number | undefined>): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(rec)) if (v !== undefined && Number.isFinite(v)) out[k] = v;
  return out;
};

export class RoundRecorder implements RoundObserver {
  private current: Vector;
  private promoted: Vector;
  private readonly candidates = new Map<number, Vector>();

  constructor(private readonly o: RecorderOptions) {
    this.current = o.current;
    this.promoted = o.promoted;
  }

  /** Wraps the configured gate (or none: promote) to see each round's candidate parameters. */
  gate(inner: PromotionGate | undefined): PromotionGate {
    return {
      decide: async (candidate, promoted) => {
        this.candidates.set(candidate.round, candidate.params);
        return inner ? inner.decide(candidate, promoted) : { promote: true, reasons: [] };
      },
    };
  }

  onRoundStart(round: number, sampled: readonly string[]): void {
    this.o.store.beginRound(round, sampled);
    this.o.audit.append('round.started', ACTOR, { round, participants: [...sampled] });
  }

  onRoundEnd(record: RoundRecord): void {
    const { store, audit } = this.o;
    const round = record.round;
    const candidate = this.candidates.get(round);
    this.candidates.delete(round);
    if (record.promoted && candidate) {
      this.promoted = candidate;
      this.current = candidate;
    } else if (candidate && this.o.continueFrom !== 'promoted') {
      this.current = candidate;
    } else if (this.o.continueFrom === 'promoted') {
      this.current = this.promoted;
    }

    const rejected = [
      ...record.participants.filter((p) => !p.ok).map((p) => ({ participant: p.id, reason: p.error ?? 'failed' })),
      ...record.diagnostics.filter((d) => !d.accepted).map((d) => ({ participant: d.id, reason: d.reason ?? 'rejected by the aggregator' })),
    ];
    const accepted = record.skipped ? [] : record.diagnostics.filter((d) => d.accepted).map((d) => d.id);
    audit.append('aggregation.decision', ACTOR, { round, aggregator: this.o.aggregator, accepted, rejected, ...(record.skipped ? { skipped: record.skipped } : {}) });

    const metrics = finite({
      accuracy: record.evaluation.accuracy,
      loss: record.evaluation.loss,
      aggregateNorm: record.aggregateNorm,
      updates: record.participants.filter((p) => p.ok).length,
      sampled: record.sampled.length,
      skipped: record.skipped ? 1 : 0,
      ...record.extra,
    });
    const participantMetrics = record.participants.flatMap((p) =>
      Object.entries(finite({ train_loss: p.loss, num_samples: p.numSamples, train_ms: p.trainMs, update_norm: p.updateNorm, ok: p.ok ? 1 : 0 })).map(([name, value]) => ({ participant: p.id, name, value })),
    );
    const model = serializeParams({ layout: this.o.layout, values: candidate ?? this.current });
    const committed = store.commitRound({
      round,
      model,
      modelStatus: record.promoted ? 'promoted' : 'candidate',
      modelMetrics: record.skipped ? {} : finite({ accuracy: record.evaluation.accuracy, loss: record.evaluation.loss }),
      metrics,
      participantMetrics,
      timings: finite({ ...record.timings }),
      auditHead: audit.head,
    });
    const version = committed.model.version;
    const sha256 = committed.model.sha256;
    if (record.promoted) {
      audit.append('model.promoted', ACTOR, { modelVersion: version, round, sha256, metrics: finite({ accuracy: record.evaluation.accuracy, loss: record.evaluation.loss }) });
    } else if (!record.skipped) {
      const reason = record.gateReasons.join('; ') || 'rejected by the promotion gate';
      store.setModelStatus(version, 'rejected', reason);
      audit.append('model.rejected', ACTOR, { modelVersion: version, round, sha256, reason, metrics: finite({ accuracy: record.evaluation.accuracy, loss: record.evaluation.loss }) });
    }
    audit.append('round.committed', ACTOR, { round, modelVersion: version, modelSha256: sha256, metrics });
    this.o.onCommitted?.({ round, modelVersion: version, sha256, record });
  }
}

/**
 * At startup: abort a round a crash left open, and write the round.committed entry of the last
 * committed round if the crash came between its store commit and that entry.
 */
export function recoverAudit(store: CoordinatorStore, audit: AuditLog): { aborted?: number; repaired?: number } {
  const out: { aborted?: number; repaired?: number } = {};
  const open = store.interruptedRound();
  if (open) {
    store.abortRound(open.round, 'coordinator restarted while the round was in progress');
    audit.append('round.aborted', ACTOR, { round: open.round, reason: 'coordinator restarted while the round was in progress; the round is run again' });
    out.aborted = open.round;
  }
  const last = store.lastCommittedRound();
  if (last > 0) {
    let logged = 0;
    scanAuditLog(audit.path, (e) => {
      if (e.type === 'round.committed' && typeof e.details.round === 'number') logged = Math.max(logged, e.details.round);
    });
    if (logged < last) {
      const r = store.round(last);
      const model = r?.modelVersion === undefined ? undefined : store.modelVersion(r.modelVersion);
      if (r && model) {
        if (model.status === 'promoted') audit.append('model.promoted', ACTOR, { modelVersion: model.version, round: last, sha256: model.sha256, metrics: model.metrics });
        audit.append('round.committed', ACTOR, { round: last, modelVersion: model.version, modelSha256: model.sha256, metrics: r.metrics });
        out.repaired = last;
      }
    }
  }
  return out;
}
