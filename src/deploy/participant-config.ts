/**
 * participant.yaml for `fedsec join`: where the coordinator is, this participant's certificate,
 * its local data, and its own limits. The model comes from the coordinator (announced at
 * admission) unless `model:` overrides it with a local file of the same architecture.
 * Relative paths are resolved against the config file's directory.
 */
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { fail } from '../core/errors.js';
import { describeIssues, parseSimulationConfig, type SimulationConfig } from '../config/simulation.js';
import { csvSourceSchema } from '../data/csv.js';
import { partitionSchema, type PartitionSpec } from '../data/partition.js';
import { modelSpecSchema } from '../model/zoo.js';

const MiB = 1024 * 1024;
const path = z.string().min(1, 'give a file path');

const datasetSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('mnist') }).strict(),
  csvSourceSchema.extend({
    /** Class names in federation order, when labels are names (every participant must list the same). */
    classes: z.array(z.string().min(1)).min(2).optional(),
  }),
]);

/** `{index, of, seed, kind, …}`: this participant's share of a built-in (or CSV) pool, as `simulate` splits it. */
const partitionShareSchema = z
  .looseObject({
    index: z.number().int().min(0),
    of: z.number().int().min(1),
    seed: z.union([z.number().int(), z.string().min(1)]).default(42),
  })
  .transform((v, ctx): { index: number; of: number; seed: number | string; spec: PartitionSpec } => {
    const { index, of, seed, ...rest } = v;
    const spec = partitionSchema.safeParse(Object.keys(rest).length === 0 ? { kind: 'iid' } : rest);
    if (!spec.success) {
      for (const issue of spec.error.issues) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
      return z.NEVER;
    }
    if (index >= of) {
      ctx.addIssue({ code: 'custom', message: `index ${index} is out of range for ${of} partitions: use 0..${of - 1}`, path: ['index'] });
      return z.NEVER;
    }
    return { index, of, seed, spec: spec.data };
  });

export const participantConfigSchema = z.object({
  coordinator: z.object({
    address: z.string().regex(/^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/, 'use host:port, e.g. 127.0.0.1:7443'),
    /** Name in the coordinator certificate to check, when it differs from the host dialled (e.g. localhost). */
    serverName: z.string().min(1).optional(),
  }).strict(),
  /** Refuse a coordinator serving another federation (the CA's organisation name). */
  federation: z.string().min(1).optional(),
  tls: z.object({ ca: path, cert: path, key: path }).strict(),
  data: z.object({
    dataset: datasetSchema,
    partition: partitionShareSchema.optional(),
    /** Use at most this many local examples (demos, quick tests). */
    limit: z.number().int().positive().optional(),
  }).strict(),
  /** Override the model the coordinator announces (e.g. {kind: file, path: model.json}). */
  model: modelSpecSchema.optional(),
  /** Client-side pipeline sections, as in a simulate config (e.g. privacy for local clipping). */
  pipeline: z.record(z.string(), z.unknown()).optional(),
  /** One-time token for enrollment when this participant is not on the coordinator's allow-list. */
  enrollmentToken: z.string().min(16, 'enrollment tokens have at least 16 characters').max(256).optional(),
  policy: z.object({
    maxModelBytes: z.number().int().positive().default(512 * MiB),
    maxEpochs: z.number().int().positive().optional(),
  }).strict().prefault({}),
  reconnect: z.object({
    initialDelayMs: z.number().int().positive().default(500),
    maxDelayMs: z.number().int().positive().default(30_000),
    /** Give up after this many failed connection attempts in a row (0: never). */
    maxAttempts: z.number().int().min(0).default(0),
  }).strict().prefault({}),
  session: z.object({
    /** Deadline of one session call; the participant reconnects when it passes. */
    deadlineMs: z.number().int().positive().default(6 * 3600_000),
    firstMessageTimeoutMs: z.number().int().positive().default(30_000),
  }).strict().prefault({}),
  runtime: z.object({ backend: z.enum(['auto', 'tensorflow', 'wasm', 'cpu']).default('auto') }).strict().prefault({}),
}).strict();

export type ParticipantConfigParsed = z.infer<typeof participantConfigSchema>;
export interface ParticipantConfig extends Omit<ParticipantConfigParsed, 'pipeline'> {
  /** The pipeline sections as a full simulate config (defaults filled), for clientChainFor. */
  readonly pipeline: SimulationConfig;
}

export function parseParticipantConfig(input: unknown, source = 'participant config', baseDir = process.cwd()): ParticipantConfig {
  const parsed = participantConfigSchema.safeParse(input ?? {});
  if (!parsed.success) fail('config', `invalid ${source}:\n${describeIssues(parsed.error)}`);
  const c = parsed.data;
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(baseDir, p));
  const dataset = c.data.dataset.kind === 'csv' ? { ...c.data.dataset, path: abs(c.data.dataset.path) } : c.data.dataset;
  const model = c.model?.kind === 'file' ? { ...c.model, path: abs(c.model.path) } : c.model;
  return {
    ...c,
    tls: { ca: abs(c.tls.ca), cert: abs(c.tls.cert), key: abs(c.tls.key) },
    data: { ...c.data, dataset },
    ...(model ? { model } : {}),
    pipeline: parseSimulationConfig(c.pipeline ?? {}, `${source} (pipeline section)`),
  };
}
