/**
 * coordinator.yaml for `fedsec serve`: the same federation fields as a `fedsec simulate` config
 * (seed, dataset, model, rounds, sampling, training, server, aggregation, privacy, …) plus one
 * `deploy:` section for what only a real deployment has — where to listen, the TLS files, the
 * store, who may join. On the coordinator, `dataset` is its own data: the held-out evaluation set
 * is its test split (MNIST: the fixed 2,000 digits). `participants` and `partition` are ignored.
 * Relative paths are resolved against the config file's directory.
 */
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { fail } from '../core/errors.js';
import { describeIssues, parseSimulationConfig, type SimulationConfig } from '../config/simulation.js';
import { orgSchema, participantNameSchema } from '../pki/manifest.js';
import { LOOPBACK_HOSTS } from './metrics.js';

const MiB = 1024 * 1024;
const path = z.string().min(1, 'give a file path');
const hex64 = z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex SHA-256 (64 characters), e.g. from `printf %s TOKEN | sha256sum`');

const allowEntrySchema = z.union([
  participantNameSchema,
  z.object({
    name: participantNameSchema,
    /** Pin the organisation the certificate must carry. */
    org: orgSchema.optional(),
    /** Pin one certificate (SHA-256 of its DER, as `fedsec pki list --json` prints). */
    fingerprint: hex64.optional(),
  }).strict(),
]);

export const admissionSchema = z.object({
  /** Participant names (or {name, org?, fingerprint?}) allowed to join. */
  allow: z.array(allowEntrySchema).default([]),
  /** One-time enrollment tokens, stored as SHA-256 (the token itself goes in participant.yaml). */
  tokens: z.array(z.object({ sha256: hex64, participant: participantNameSchema.optional() }).strict()).default([]),
  /** Sybil resistance: at most this many identities per organisation (certificate O=). */
  maxIdentitiesPerOrg: z.number().int().min(1).default(1),
  /** Refuse certificates without an organisation (the quota cannot count them otherwise). */
  requireOrg: z.boolean().default(true),
}).strict();
export type AdmissionConfig = z.infer<typeof admissionSchema>;

const loopback = z.string().refine((h) => (LOOPBACK_HOSTS as readonly string[]).includes(h), 'the metrics endpoint has no authentication: use 127.0.0.1, ::1 or localhost and scrape locally');

export const deploySchema = z.object({
  listen: z.object({
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65_535).default(7443),
  }).strict().prefault({}),
  /** Files from `fedsec pki`: the CA certificate and CRL, the coordinator's certificate and key. */
  tls: z.object({ ca: path, crl: path, cert: path, key: path }).strict(),
  /** Directory for coordinator.db, model blobs, audit.jsonl and enrollments.json. */
  store: path,
  admission: admissionSchema.prefault({}),
  wait: z.object({
    /** Participants to wait for before the first round (default: server.minParticipants). */
    participants: z.number().int().min(1).optional(),
    timeoutMs: z.number().int().positive().default(300_000),
  }).strict().prefault({}),
  limits: z.object({
    chunkBytes: z.number().int().min(1024).max(16 * MiB).default(MiB),
    maxPayloadBytes: z.number().int().min(1024).max(2 ** 32 - 1).default(512 * MiB),
    helloTimeoutMs: z.number().int().positive().default(10_000),
    heartbeatMs: z.number().int().positive().default(15_000),
    handshakeTimeoutMs: z.number().int().positive().default(10_000),
    maxConnections: z.number().int().positive().default(256),
    reconnectGraceMs: z.number().int().min(0).default(10_000),
  }).strict().prefault({}),
  metrics: z.union([
    z.literal(false),
    z.object({ host: loopback.default('127.0.0.1'), port: z.number().int().min(0).max(65_535).default(9464) }).strict(),
  ]).default(false),
  /** Tell refused participants why (gRPC status with the reason); false drops them after the handshake. */
  explainRejections: z.boolean().default(true),
}).strict().refine((d) => d.admission.allow.length > 0 || d.admission.tokens.length > 0, {
  message: 'admission.allow and admission.tokens are both empty, so no participant could join: list participant names under deploy.admission.allow',
  path: ['admission'],
});
export type DeployConfig = z.infer<typeof deploySchema>;

export interface CoordinatorConfig {
  readonly federation: SimulationConfig;
  readonly deploy: DeployConfig;
}

export function parseCoordinatorConfig(input: unknown, source = 'coordinator config', baseDir = process.cwd()): CoordinatorConfig {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) fail('config', `${source} must be a mapping with a deploy: section`);
  const { deploy: rawDeploy, ...rest } = input as Record<string, unknown>;
  if (rawDeploy === undefined) {
    fail('config', `${source} has no deploy: section`, 'add deploy: {tls: {ca, crl, cert, key}, store, admission: {allow: [...]}} (see docs/deployment.md)');
  }
  const federation = parseSimulationConfig(rest, source);
  const parsed = deploySchema.safeParse(rawDeploy);
  if (!parsed.success) {
    const prefixed = new z.ZodError(parsed.error.issues.map((i) => ({ ...i, path: ['deploy', ...i.path] })));
    fail('config', `invalid ${source}:\n${describeIssues(prefixed)}`);
  }
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(baseDir, p));
  const d = parsed.data;
  const deploy: DeployConfig = {
    ...d,
    tls: { ca: abs(d.tls.ca), crl: abs(d.tls.crl), cert: abs(d.tls.cert), key: abs(d.tls.key) },
    store: abs(d.store),
  };
  return { federation, deploy };
}
