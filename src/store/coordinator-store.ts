/**
 * The coordinator's durable state: participants, rounds, model versions and metrics in SQLite,
 * model parameters as content-addressed blobs beside it.
 *
 * Crash safety: a round becomes "committed" in one SQLite transaction together with its model
 * version and metrics, after the model blob is already durable on disk. A kill -9 at any point
 * leaves either the previous committed state or the new one; at worst an orphan blob (harmless,
 * content-addressed) and a round still marked "started", which `interruptedRound()` reports.
 *
 * WAL + synchronous=FULL: WAL lets readers (CLI, dashboards) run beside the writer; FULL fsyncs
 * the WAL on every commit, so a committed round also survives power loss / OS crash, not only a
 * process crash (NORMAL would only guarantee the latter). Commits happen once per round, so the
 * extra fsync is negligible next to training.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { z } from 'zod';
import type { AuditHead } from '../audit/audit-entry.js';
import { fail } from '../core/errors.js';
import { BlobStore } from './blob-store.js';
import {
  MIGRATIONS,
  SCHEMA_VERSION,
  metricRow,
  modelRow,
  participantRow,
  roundRow,
  type MetricRecord,
  type ModelStatus,
  type ModelVersionRecord,
  type ParticipantRecord,
  type ParticipantStatus,
  type RoundRecord,
} from './store-schema.js';

export type { MetricRecord, ModelStatus, ModelVersionRecord, ParticipantRecord, ParticipantStatus, RoundRecord };

export interface StoreOptions {
  /** Open an existing store for reading only (CLI inspection while the coordinator runs). */
  readonly readonly?: boolean;
  readonly clock?: () => Date;
}

export interface ParticipantMetric {
  readonly participant: string;
  readonly name: string;
  readonly value: number;
}

export interface CommitRound {
  readonly round: number;
  /** Serialized global model after this round (e.g. serializeParams output). */
  readonly model: Uint8Array;
  /** 'candidate' (default) until a validation gate decides, or 'promoted' when there is no gate. */
  readonly modelStatus?: Exclude<ModelStatus, 'rejected'>;
  readonly modelMetrics?: Record<string, number>;
  /** Round summary metrics (loss, accuracy, ε spent, ...). */
  readonly metrics?: Record<string, number>;
  readonly participantMetrics?: readonly ParticipantMetric[];
  /** Phase durations in ms. */
  readonly timings?: Record<string, number>;
  /** Audit log head after this round's entries: later lets `audit verify --store` detect truncation. */
  readonly auditHead?: AuditHead;
}

export class CoordinatorStore {
  readonly dir: string;
  readonly blobs: BlobStore;
  private readonly db: Database.Database;
  private readonly clock: () => Date;

  private constructor(dir: string, db: Database.Database, clock: () => Date) {
    this.dir = dir;
    this.db = db;
    this.blobs = new BlobStore(join(dir, 'blobs'));
    this.clock = clock;
  }

  static open(dir: string, options: StoreOptions = {}): CoordinatorStore {
    const file = join(dir, 'coordinator.db');
    if (options.readonly) {
      if (!existsSync(file)) fail('io', `no coordinator store in ${dir} (missing coordinator.db)`, 'check the --store path');
    } else {
      mkdirSync(join(dir, 'blobs'), { recursive: true, mode: 0o750 });
    }
    let db: Database.Database;
    try {
      db = new Database(file, { readonly: options.readonly ?? false, fileMustExist: options.readonly ?? false });
      if (!options.readonly) db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      db.pragma('busy_timeout = 5000');
    } catch (err) {
      fail('io', `cannot open coordinator store ${file}: ${(err as Error).message}`, 'check the path and permissions, or restore it from backup');
    }
    const store = new CoordinatorStore(dir, db, options.clock ?? (() => new Date()));
    try {
      store.migrate(options.readonly ?? false);
    } catch (err) {
      db.close();
      throw err;
    }
    return store;
  }

  private migrate(readonly: boolean): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      fail('io', `coordinator store was written by a newer fedsec (schema ${version}, this one knows ${SCHEMA_VERSION})`, 'upgrade fedsec');
    }
    if (version === SCHEMA_VERSION) return;
    if (readonly) fail('io', `coordinator store in ${this.dir} is not initialised (schema ${version})`, 'start the coordinator once, or check the --store path');
    this.db.transaction(() => {
      for (let v = version; v < SCHEMA_VERSION; v++) this.db.exec(MIGRATIONS[v] as string);
      this.db.pragma(`user_version = ${SCHEMA_VERSION}`);
    })();
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  // ---- participants -------------------------------------------------------------------------

  /** Records (or refreshes) an enrolled identity, e.g. from verifyPeerCertificate. */
  upsertParticipant(p: { name: string; org?: string; serial: string; fingerprint: string; status?: ParticipantStatus }): ParticipantRecord {
    const now = this.now();
    this.db
      .prepare(
        `INSERT INTO participants (name, org, serial, fingerprint, status, enrolled_at, updated_at)
         VALUES (@name, @org, @serial, @fingerprint, @status, @now, @now)
         ON CONFLICT (name) DO UPDATE SET org = @org, serial = @serial, fingerprint = @fingerprint, status = @status, updated_at = @now`,
      )
      .run({ name: p.name, org: p.org ?? null, serial: p.serial, fingerprint: p.fingerprint, status: p.status ?? 'enrolled', now });
    return this.participant(p.name) as ParticipantRecord;
  }

  setParticipantStatus(name: string, status: ParticipantStatus): ParticipantRecord {
    const r = this.db.prepare('UPDATE participants SET status = ?, updated_at = ? WHERE name = ?').run(status, this.now(), name);
    if (r.changes === 0) fail('precondition', `participant "${name}" is not enrolled`);
    return this.participant(name) as ParticipantRecord;
  }

  participant(name: string): ParticipantRecord | undefined {
    return this.one(participantRow, 'participant', 'SELECT * FROM participants WHERE name = ?', name);
  }

  participants(): ParticipantRecord[] {
    return this.all(participantRow, 'participant', 'SELECT * FROM participants ORDER BY name');
  }

  // ---- rounds -------------------------------------------------------------------------------

  lastCommittedRound(): number {
    const row = this.db.prepare("SELECT MAX(round) AS r FROM rounds WHERE status = 'committed'").get() as { r: number | null };
    return row.r ?? 0;
  }

  round(round: number): RoundRecord | undefined {
    return this.one(roundRow, 'round', 'SELECT * FROM rounds WHERE round = ?', round);
  }

  rounds(): RoundRecord[] {
    return this.all(roundRow, 'round', 'SELECT * FROM rounds ORDER BY round');
  }

  /** A round left "started" by a crash; resume by aborting it and starting it again. */
  interruptedRound(): RoundRecord | undefined {
    return this.one(roundRow, 'round', "SELECT * FROM rounds WHERE status = 'started' ORDER BY round LIMIT 1");
  }

  beginRound(round: number, participants: readonly string[] = []): RoundRecord {
    positiveInt(round, 'round');
    this.db.transaction(() => {
      const last = this.lastCommittedRound();
      if (round <= last) fail('precondition', `round ${round} is already committed (last committed: ${last})`, `start round ${last + 1}`);
      const open = this.interruptedRound();
      if (open) fail('precondition', `round ${open.round} is still in progress`, `commit or abort round ${open.round} first`);
      // An aborted attempt of the same round number is replaced by the new attempt.
      this.db
        .prepare(
          `INSERT INTO rounds (round, status, participants_json, started_at) VALUES (?, 'started', ?, ?)
           ON CONFLICT (round) DO UPDATE SET status = 'started', participants_json = excluded.participants_json,
             started_at = excluded.started_at, finished_at = NULL, abort_reason = NULL`,
        )
        .run(round, JSON.stringify(participants), this.now());
    })();
    return this.round(round) as RoundRecord;
  }

  /**
   * Commits round r: model blob first (durable, content-addressed), then model version, metrics
   * and the round's status in one transaction. Either all of it is visible afterwards or none.
   */
  commitRound(c: CommitRound): { round: RoundRecord; model: ModelVersionRecord } {
    positiveInt(c.round, 'round');
    const metrics = finiteRecord(c.metrics ?? {}, 'round metrics');
    const modelMetrics = finiteRecord(c.modelMetrics ?? {}, 'model metrics');
    const timings = finiteRecord(c.timings ?? {}, 'round timings');
    for (const m of c.participantMetrics ?? []) finiteRecord({ [m.name]: m.value }, `metric of ${m.participant}`);
    const current = this.round(c.round);
    if (current?.status !== 'started') {
      fail('precondition', `round ${c.round} is ${current ? current.status : 'not started'}; only a started round can be committed`, `call beginRound(${c.round}) first`);
    }

    const sha256 = this.blobs.put(c.model);
    const now = this.now();
    const version = this.db.transaction(() => {
      const v = this.db
        .prepare(`INSERT INTO model_versions (round, sha256, bytes, status, metrics_json, created_at) VALUES (?, ?, ?, ?, ?, ?)`)
        .run(c.round, sha256, c.model.byteLength, c.modelStatus ?? 'candidate', JSON.stringify(modelMetrics), now).lastInsertRowid;
      const insertMetric = this.db.prepare('INSERT INTO metrics (round, participant, name, value, recorded_at) VALUES (?, ?, ?, ?, ?)');
      for (const m of c.participantMetrics ?? []) insertMetric.run(c.round, m.participant, m.name, m.value, now);
      const updated = this.db
        .prepare(
          `UPDATE rounds SET status = 'committed', finished_at = ?, model_version = ?, metrics_json = ?, timings_json = ?,
             audit_seq = ?, audit_hash = ? WHERE round = ? AND status = 'started'`,
        )
        .run(now, v, JSON.stringify(metrics), JSON.stringify(timings), c.auditHead?.seq ?? null, c.auditHead?.hash ?? null, c.round);
      if (updated.changes !== 1) fail('precondition', `round ${c.round} changed while committing`, 'only one coordinator may use a store');
      return Number(v);
    })();
    return { round: this.round(c.round) as RoundRecord, model: this.modelVersion(version) as ModelVersionRecord };
  }

  abortRound(round: number, reason: string): RoundRecord {
    const r = this.db
      .prepare("UPDATE rounds SET status = 'aborted', finished_at = ?, abort_reason = ? WHERE round = ? AND status = 'started'")
      .run(this.now(), reason, round);
    if (r.changes === 0) fail('precondition', `round ${round} is not in progress, so it cannot be aborted`);
    return this.round(round) as RoundRecord;
  }

  /** The audit head recorded with the latest committed round that has one. */
  auditAnchor(): AuditHead | undefined {
    const r = this.one(roundRow, 'round', "SELECT * FROM rounds WHERE status = 'committed' AND audit_seq IS NOT NULL ORDER BY round DESC LIMIT 1");
    return r?.audit;
  }

  // ---- models -------------------------------------------------------------------------------

  /** Stores the initial global model (round 0, promoted); only while no model exists. */
  putInitialModel(model: Uint8Array, metrics: Record<string, number> = {}): ModelVersionRecord {
    finiteRecord(metrics, 'model metrics');
    if (this.latestModel('any')) fail('precondition', 'the store already has a model; the initial model can only be set once');
    const sha256 = this.blobs.put(model);
    const v = this.db
      .prepare(`INSERT INTO model_versions (round, sha256, bytes, status, metrics_json, created_at) VALUES (0, ?, ?, 'promoted', ?, ?)`)
      .run(sha256, model.byteLength, JSON.stringify(metrics), this.now()).lastInsertRowid;
    return this.modelVersion(Number(v)) as ModelVersionRecord;
  }

  modelVersion(version: number): ModelVersionRecord | undefined {
    return this.one(modelRow, 'model version', 'SELECT * FROM model_versions WHERE version = ?', version);
  }

  /** Newest model version with the given status (default: the promoted global model). */
  latestModel(status: ModelStatus | 'any' = 'promoted'): ModelVersionRecord | undefined {
    return status === 'any'
      ? this.one(modelRow, 'model version', 'SELECT * FROM model_versions ORDER BY version DESC LIMIT 1')
      : this.one(modelRow, 'model version', 'SELECT * FROM model_versions WHERE status = ? ORDER BY version DESC LIMIT 1', status);
  }

  /** A validation gate's decision on a candidate (promoted models may later be rejected, e.g. on rollback). */
  setModelStatus(version: number, status: Exclude<ModelStatus, 'candidate'>, reason?: string): ModelVersionRecord {
    const current = this.modelVersion(version);
    if (!current) fail('precondition', `model version ${version} does not exist`);
    if (current.status === 'rejected') fail('precondition', `model version ${version} was already rejected`);
    this.db.prepare('UPDATE model_versions SET status = ?, status_reason = ? WHERE version = ?').run(status, reason ?? null, version);
    return this.modelVersion(version) as ModelVersionRecord;
  }

  /** The model's bytes, verified against its SHA-256 and recorded size. */
  readModel(model: ModelVersionRecord | number): Uint8Array {
    const record = typeof model === 'number' ? this.modelVersion(model) : model;
    if (!record) fail('precondition', `model version ${String(model)} does not exist`);
    const bytes = this.blobs.get(record.sha256);
    if (bytes.byteLength !== record.bytes) fail('io', `model version ${record.version} has ${bytes.byteLength} bytes, ${record.bytes} recorded`, 'restore the store from backup');
    return bytes;
  }

  // ---- metrics ------------------------------------------------------------------------------

  recordMetric(m: { name: string; value: number; round?: number; participant?: string }): void {
    finiteRecord({ [m.name]: m.value }, 'metric');
    this.db
      .prepare('INSERT INTO metrics (round, participant, name, value, recorded_at) VALUES (?, ?, ?, ?, ?)')
      .run(m.round ?? null, m.participant ?? null, m.name, m.value, this.now());
  }

  metrics(filter: { round?: number; name?: string; participant?: string } = {}): MetricRecord[] {
    return this.all(
      metricRow,
      'metric',
      `SELECT * FROM metrics WHERE (@round IS NULL OR round = @round) AND (@name IS NULL OR name = @name)
         AND (@participant IS NULL OR participant = @participant) ORDER BY id`,
      { round: filter.round ?? null, name: filter.name ?? null, participant: filter.participant ?? null },
    );
  }

  // ---- helpers ------------------------------------------------------------------------------

  private now(): string {
    return this.clock().toISOString();
  }

  private one<S extends z.ZodType>(schema: S, what: string, sql: string, ...params: unknown[]): z.output<S> | undefined {
    const row: unknown = this.db.prepare(sql).get(...params);
    return row === undefined ? undefined : this.parseRow(schema, what, row);
  }

  private all<S extends z.ZodType>(schema: S, what: string, sql: string, ...params: unknown[]): z.output<S>[] {
    return this.db.prepare(sql).all(...params).map((row) => this.parseRow(schema, what, row));
  }

  private parseRow<S extends z.ZodType>(schema: S, what: string, row: unknown): z.output<S> {
    const r = schema.safeParse(row);
    if (!r.success) {
      const issue = r.error.issues[0];
      fail('io', `corrupt ${what} row in ${this.dir}/coordinator.db (${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'})`, 'restore the store from backup');
    }
    return r.data;
  }
}

function positiveInt(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 1) fail('data', `${what} must be a positive integer, got ${n}`);
}

function finiteRecord(rec: Record<string, number>, what: string): Record<string, number> {
  for (const [k, v] of Object.entries(rec)) {
    if (typeof v !== 'number' || !Number.isFinite(v)) fail('non-finite', `${what} "${k}" is ${String(v)}`, 'report only finite numbers (check for a diverged model)');
  }
  return rec;
}
