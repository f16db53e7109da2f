/**
 * Fans alerts out to sinks without flooding them: alerts below a sink's minimum severity are
 * skipped; an alert with the same type and subject as one sent within the dedup window is counted
 * instead of re-sent (unless it is more severe), and the count rides on the next one sent; each
 * sink takes at most `maxPerMinute` alerts per sliding minute, the excess counted likewise.
 * Delivery is asynchronous so a slow webhook never stalls a round; `flush()` waits for it.
 */
import type { Severity } from '../config.js';
import type { Alert, AlertSink } from './alert.js';
import { SEVERITY_RANK } from './alert.js';

export interface DispatcherOptions {
  readonly dedupWindowMs: number;
  readonly maxPerMinute: number;
  readonly clock?: () => number;
  /** Told about every delivery failure (e.g. the structured log). */
  readonly onError?: (sink: string, alert: Alert, error: unknown) => void;
}

export interface DispatcherStats {
  sent: number;
  deduplicated: number;
  rateLimited: number;
  failed: number;
}

interface SinkState {
  readonly sink: AlertSink;
  readonly minSeverity: Severity;
  readonly sentAt: number[];
  rateLimited: number;
}

export class AlertDispatcher {
  private readonly sinks: SinkState[];
  private readonly lastSent = new Map<string, { at: number; severity: Severity; suppressed: number }>();
  private readonly pending = new Set<Promise<void>>();
  readonly stats: DispatcherStats = { sent: 0, deduplicated: 0, rateLimited: 0, failed: 0 };

  constructor(sinks: readonly { sink: AlertSink; minSeverity: Severity }[], private readonly options: DispatcherOptions) {
    this.sinks = sinks.map((s) => ({ ...s, sentAt: [], rateLimited: 0 }));
  }

  get size(): number {
    return this.sinks.length;
  }

  emit(alert: Alert): void {
    const now = this.options.clock?.() ?? Date.now();
    const key = `${alert.type}|${alert.subject ?? ''}`;
    const prev = this.lastSent.get(key);
    if (prev && now - prev.at < this.options.dedupWindowMs && SEVERITY_RANK[alert.severity] <= SEVERITY_RANK[prev.severity]) {
      prev.suppressed++;
      this.stats.deduplicated++;
      return;
    }
    const suppressed = prev?.suppressed ?? 0;
    this.lastSent.set(key, { at: now, severity: alert.severity, suppressed: 0 });
    for (const state of this.sinks) {
      if (SEVERITY_RANK[alert.severity] < SEVERITY_RANK[state.minSeverity]) continue;
      while (state.sentAt.length > 0 && now - state.sentAt[0]! >= 60_000) state.sentAt.shift();
      if (state.sentAt.length >= this.options.maxPerMinute) {
        state.rateLimited++;
        this.stats.rateLimited++;
        continue;
      }
      state.sentAt.push(now);
      const out: Alert = { ...alert, ...(suppressed > 0 ? { suppressed } : {}), ...(state.rateLimited > 0 ? { rateLimited: state.rateLimited } : {}) };
      state.rateLimited = 0;
      const delivery = state.sink.send(out).then(
        () => {
          this.stats.sent++;
        },
        (err: unknown) => {
          this.stats.failed++;
          this.options.onError?.(state.sink.name, out, err);
        },
      );
      this.pending.add(delivery);
      void delivery.finally(() => this.pending.delete(delivery));
    }
  }

  /** Wait until every alert emitted so far was delivered or finally failed. */
  async flush(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }
}
