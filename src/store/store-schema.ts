/**
 * SQLite schema of the coordinator store (versioned by PRAGMA user_version) and zod schemas that
 * turn rows read back into typed records: a row that does not parse is reported, never trusted.
 */
import { z } from 'zod';

export const SCHEMA_VERSION = 1;

export const MIGRATIONS: readonly string[] = [
  // v1
  `
  CREATE TABLE participants (
    name TEXT PRIMARY KEY,
    org TEXT,
    serial TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('enrolled', 'active', 'suspended', 'revoked')),
    enrolled_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
  ) STRICT;
  CREATE TABLE model_versions (
    version INTEGER PRIMARY KEY AUTOINCREMENT,
    round INTEGER NOT NULL CHECK (round >= 0),
    sha256 TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('candidate', 'promoted', 'rejected')),
    status_reason TEXT,
    metrics_json TEXT NOT NULL,
    created_at TEXT NOT NULL
  ) STRICT;
  CREATE TABLE rounds (
    round INTEGER PRIMARY KEY CHECK (round >= 1),
    status TEXT NOT NULL CHECK (status IN ('started', 'committed', 'aborted')),
    participants_json TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    model_version INTEGER REFERENCES model_versions(version),
    metrics_json TEXT,
    timings_json TEXT,
    abort_reason TEXT,
    audit_seq INTEGER,
    audit_hash TEXT,
    CHECK (status != 'committed' OR (model_version IS NOT NULL AND finished_at IS NOT NULL))
  ) STRICT;
  CREATE TABLE metrics (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    round INTEGER,
    participant TEXT,
    name TEXT NOT NULL,
    value REAL NOT NULL,
    recorded_at TEXT NOT NULL
  ) STRICT;
  CREATE INDEX metrics_by_round ON metrics (round, name);
  CREATE INDEX models_by_status ON model_versions (status, version);
  `,
];

const iso = z.iso.datetime();
const numberRecord = z.record(z.string(), z.number());

/** JSON text column → parsed and validated value. */
const jsonText = <T extends z.ZodType>(schema: T) =>
  z.string().transform((text, ctx) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'not JSON' });
      return z.NEVER;
    }
  }).pipe(schema);

export const participantStatuses = ['enrolled', 'active', 'suspended', 'revoked'] as const;
export type ParticipantStatus = (typeof participantStatuses)[number];
export const modelStatuses = ['candidate', 'promoted', 'rejected'] as const;
export type ModelStatus = (typeof modelStatuses)[number];
export type RoundStatus = 'started' | 'committed' | 'aborted';

export const participantRow = z
  .object({
    name: z.string(),
    org: z.string().nullable(),
    serial: z.string(),
    fingerprint: z.string(),
    status: z.enum(participantStatuses),
    enrolled_at: iso,
    updated_at: iso,
  })
  .transform((r) => ({ name: r.name, org: r.org ?? undefined, serial: r.serial, fingerprint: r.fingerprint, status: r.status, enrolledAt: r.enrolled_at, updatedAt: r.updated_at }));
export type ParticipantRecord = z.output<typeof participantRow>;

export const modelRow = z
  .object({
    version: z.number().int().positive(),
    round: z.number().int().nonnegative(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    bytes: z.number().int().nonnegative(),
    status: z.enum(modelStatuses),
    status_reason: z.string().nullable(),
    metrics_json: jsonText(numberRecord),
    created_at: iso,
  })
  .transform((r) => ({
    version: r.version,
    round: r.round,
    sha256: r.sha256,
    bytes: r.bytes,
    status: r.status,
    statusReason: r.status_reason ?? undefined,
    metrics: r.metrics_json,
    createdAt: r.created_at,
  }));
export type ModelVersionRecord = z.output<typeof modelRow>;

export const roundRow = z
  .object({
    round: z.number().int().positive(),
    status: z.enum(['started', 'committed', 'aborted']),
    participants_json: jsonText(z.array(z.string())),
    started_at: iso,
    finished_at: iso.nullable(),
    model_version: z.number().int().positive().nullable(),
    metrics_json: jsonText(numberRecord).nullable(),
    timings_json: jsonText(numberRecord).nullable(),
    abort_reason: z.string().nullable(),
    audit_seq: z.number().int().nonnegative().nullable(),
    audit_hash: z.string().nullable(),
  })
  .transform((r) => ({
    round: r.round,
    status: r.status as RoundStatus,
    participants: r.participants_json,
    startedAt: r.started_at,
    finishedAt: r.finished_at ?? undefined,
    modelVersion: r.model_version ?? undefined,
    metrics: r.metrics_json ?? {},
    /** Phase durations in milliseconds (e.g. collect, aggregate, evaluate). */
    timings: r.timings_json ?? {},
    abortReason: r.abort_reason ?? undefined,
    audit: r.audit_seq !== null && r.audit_hash !== null ? { seq: r.audit_seq, hash: r.audit_hash } : undefined,
  }));
export type RoundRecord = z.output<typeof roundRow>;

export const metricRow = z
  .object({
    id: z.number().int(),
    round: z.number().int().nullable(),
    participant: z.string().nullable(),
    name: z.string(),
    value: z.number(),
    recorded_at: iso,
  })
  .transform((r) => ({ round: r.round ?? undefined, participant: r.participant ?? undefined, name: r.name, value: r.value, recordedAt: r.recorded_at }));
export type MetricRecord = z.output<typeof metricRow>;
