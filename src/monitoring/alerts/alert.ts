/**
 * An alert: a finding or a gate decision, as it is sent to sinks (file, webhook). Each carries a
 * random id so a receiver can drop a delivery it has already seen (retries, replays).
 */
import { randomUUID } from 'node:crypto';
import type { Finding } from '../../federation/engine.js';
import type { Severity } from '../config.js';

export interface Alert {
  readonly id: string;
  readonly kind: 'finding' | 'gate-rejected';
  readonly run: string;
  readonly at: string;
  readonly round: number;
  readonly type: string;
  readonly severity: Severity;
  readonly subject?: string;
  readonly message: string;
  readonly evidence: Finding['evidence'];
  /** Alerts with the same type and subject that were deduplicated since the last one sent. */
  readonly suppressed?: number;
  /** Alerts this sink dropped under its rate limit since the last one sent. */
  readonly rateLimited?: number;
}

export interface AlertSink {
  readonly name: string;
  send(alert: Alert): Promise<void>;
}

export const SEVERITY_RANK: Record<Severity, number> = { info: 0, warning: 1, critical: 2 };

export function alertFromFinding(run: string, f: Finding, now: Date = new Date()): Alert {
  return {
    id: randomUUID(), kind: 'finding', run, at: now.toISOString(), round: f.round, type: f.type, severity: f.severity,
    ...(f.subject ? { subject: f.subject } : {}), message: f.message, evidence: f.evidence,
  };
}

export function alertFromRejection(run: string, round: number, reasons: readonly string[], version: { version: number; sha256: string }, now: Date = new Date()): Alert {
  return {
    id: randomUUID(), kind: 'gate-rejected', run, at: now.toISOString(), round, type: 'candidate-rejected', severity: 'critical',
    subject: `version ${version.version}`,
    message: `the validation gate rejected round ${round}'s candidate: ${reasons.join('; ')}`,
    evidence: { reasons: [...reasons], version: version.version, sha256: version.sha256 },
  };
}
