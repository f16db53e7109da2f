/**
 * One audit log entry and its hash chain link.
 *
 * hash = SHA-256("fedsec-audit-v1\n" || canonicalJson({seq, time, type, actor, details, prevHash}))
 * The first entry has seq 1 and prevHash = 64 zeros. Entry types are open (any dotted lowercase
 * name); the types below have a schema their details must satisfy, anything else needs a JSON object.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { canonicalJson } from './canonical-json.js';

export const GENESIS_HASH = '0'.repeat(64);
const DOMAIN = 'fedsec-audit-v1\n';

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex SHA-256');
const name = z.string().min(1).max(128);
const round = z.number().int().positive();
const metrics = z.record(z.string(), z.number());

/** Detail schemas of the entry types fedsec itself writes. */
export const auditDetailSchemas = {
  'participant.admitted': z.object({ participant: name, org: z.string().optional(), serial: z.string(), fingerprint: sha256Hex }),
  'participant.rejected': z.object({
    reason: z.string().min(1),
    message: z.string(),
    participant: name.optional(),
    serial: z.string().optional(),
    fingerprint: sha256Hex.optional(),
    remote: z.string().optional(),
  }),
  'round.started': z.object({ round, participants: z.array(name) }),
  'round.committed': z.object({ round, modelVersion: z.number().int().positive().optional(), modelSha256: sha256Hex.optional(), metrics: metrics.optional() }),
  'round.aborted': z.object({ round, reason: z.string().min(1) }),
  'aggregation.decision': z.object({
    round,
    aggregator: z.string().min(1),
    accepted: z.array(name),
    rejected: z.array(z.object({ participant: name, reason: z.string().min(1) })),
  }),
  'model.promoted': z.object({ modelVersion: z.number().int().positive(), round, sha256: sha256Hex, metrics: metrics.optional() }),
  'model.rejected': z.object({ modelVersion: z.number().int().positive(), round, sha256: sha256Hex, reason: z.string().min(1), metrics: metrics.optional() }),
  'audit.repaired': z.object({ droppedBytes: z.number().int().positive(), droppedSha256: sha256Hex, savedTo: z.string() }),
} as const;

export type KnownAuditType = keyof typeof auditDetailSchemas;
export type AuditDetails<T extends string> = T extends KnownAuditType ? z.input<(typeof auditDetailSchemas)[T]> : Record<string, unknown>;

export const auditTypeSchema = z
  .string()
  .max(64)
  .regex(/^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)*$/, 'use dotted lowercase words, e.g. "round.committed"');

export const auditEntrySchema = z.strictObject({
  seq: z.number().int().positive(),
  time: z.iso.datetime(),
  type: auditTypeSchema,
  actor: name,
  details: z.record(z.string(), z.json()),
  prevHash: sha256Hex,
  hash: sha256Hex,
});
export type AuditEntry = z.infer<typeof auditEntrySchema>;

export interface AuditHead {
  readonly seq: number;
  readonly hash: string;
}

export function hashEntry(entry: Omit<AuditEntry, 'hash'>): string {
  const { seq, time, type, actor, details, prevHash } = entry;
  return createHash('sha256')
    .update(DOMAIN)
    .update(canonicalJson({ seq, time, type, actor, details, prevHash }))
    .digest('hex');
}

/** Validates details for a known type; `undefined` when they pass, else the first issue. */
export function detailsIssue(type: string, details: unknown): string | undefined {
  const schema = (auditDetailSchemas as Record<string, z.ZodType>)[type] ?? z.record(z.string(), z.json());
  const r = schema.safeParse(details);
  if (r.success) return undefined;
  const issue = r.error.issues[0];
  return `details${issue?.path.length ? `.${issue.path.join('.')}` : ''}: ${issue?.message ?? 'invalid'}`;
}
