/**
 * The registry of model versions a run produced: every candidate the gate saw (promoted or
 * rejected, with its metrics, probe results, findings and the gate's reasons) and the SHA-256 of its
 * serialized parameters (`serializeParams`). Parameters are written content-addressed as
 * `<out>/models/<sha256>.fsp`, so `fedsec models export` can hand out exactly the promoted bytes and
 * detect a modified file.
 *
 * Each version maps one-to-one onto a row of the coordinator store's `model_versions` table
 * (round, sha256, bytes, status, status_reason = reasons joined, metrics_json = metrics), so a
 * deployment can keep the same registry in SQLite.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { fail } from '../core/errors.js';
import type { ParamLayout } from '../core/params.js';
import { deserializeParams, serializeParams } from '../core/params.js';
import type { Vector } from '../core/vector.js';
import type { Evaluation, Finding } from '../federation/engine.js';
import { writeFileAtomic } from '../store/atomic-file.js';

export const REGISTRY_FORMAT = 'fedsec-model-registry/1';

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'must be a SHA-256 hex digest');

export const probeSummarySchema = z.strictObject({
  probe: z.string(),
  flaggedClasses: z.array(z.number().int()),
  /** The probe's largest per-class score (anomaly index, silhouette) and its threshold. */
  maxScore: z.number().nullable(),
  threshold: z.number(),
  perClass: z.array(z.record(z.string(), z.union([z.number(), z.boolean(), z.null()]))),
  ms: z.number(),
});
export type ProbeSummary = z.infer<typeof probeSummarySchema>;

export const modelVersionSchema = z.strictObject({
  version: z.number().int().positive(),
  round: z.number().int().min(0),
  status: z.enum(['promoted', 'rejected']),
  sha256: sha256Hex,
  bytes: z.number().int().positive(),
  /** The version this one was trained from (absent for the initial model). */
  parent: z.number().int().positive().optional(),
  createdAt: z.iso.datetime(),
  metrics: z.record(z.string(), z.number().nullable()),
  perClassAccuracy: z.array(z.number().nullable()),
  reasons: z.array(z.string()),
  probes: z.array(probeSummarySchema),
  findings: z.array(z.strictObject({ type: z.string(), severity: z.enum(['info', 'warning', 'critical']), count: z.number().int().positive(), subjects: z.array(z.string()) })),
  /** Path of the parameter blob relative to results.json, when it was written (never elsewhere). */
  blob: z.string().regex(/^models\/[0-9a-f]{64}\.fsp$/, 'must be models/<sha256>.fsp').optional(),
}).refine((v) => v.blob === undefined || v.blob === `models/${v.sha256}.fsp`, { message: 'blob must be named after the version\'s sha256', path: ['blob'] });
export type ModelVersion = z.infer<typeof modelVersionSchema>;

export const registrySchema = z.strictObject({
  format: z.literal(REGISTRY_FORMAT),
  parameters: z.number().int().positive(),
  versions: z.array(modelVersionSchema),
});
export type RegistryJson = z.infer<typeof registrySchema>;

export interface RegisterInput {
  readonly round: number;
  readonly params: Vector;
  readonly status: 'promoted' | 'rejected';
  readonly evaluation: Evaluation;
  readonly reasons?: readonly string[];
  readonly findings?: readonly Finding[];
  readonly probes?: readonly ProbeSummary[];
  readonly parent?: number;
}

const finiteOrNull = (v: number): number | null => (Number.isFinite(v) ? v : null);

/** Findings grouped by type and severity, with who they were about. */
export function summariseFindings(findings: readonly Finding[]): ModelVersion['findings'] {
  const groups = new Map<string, { type: string; severity: Finding['severity']; count: number; subjects: Set<string> }>();
  for (const f of findings) {
    const key = `${f.type}|${f.severity}`;
    const g = groups.get(key) ?? { type: f.type, severity: f.severity, count: 0, subjects: new Set<string>() };
    g.count++;
    if (f.subject) g.subjects.add(f.subject);
    groups.set(key, g);
  }
  return [...groups.values()].map((g) => ({ type: g.type, severity: g.severity, count: g.count, subjects: [...g.subjects].sort() }));
}

export class ModelRegistry {
  private readonly list: ModelVersion[] = [];

  /**
   * @param outDir where results.json goes; blobs go to `<outDir>/models/`. Without it, only hashes
   *   are recorded.
   */
  constructor(
    private readonly layout: ParamLayout,
    private readonly options: { readonly outDir?: string; readonly store: 'promoted' | 'all' | 'none'; readonly clock?: () => Date },
  ) {}

  register(input: RegisterInput): ModelVersion {
    const bytes = serializeParams({ layout: this.layout, values: input.params });
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const keep = this.options.store === 'all' || (this.options.store === 'promoted' && input.status === 'promoted');
    let blob: string | undefined;
    if (keep && this.options.outDir) {
      blob = `models/${sha256}.fsp`;
      const path = join(this.options.outDir, blob);
      if (!existsSync(path) || createHash('sha256').update(readFileSync(path)).digest('hex') !== sha256) {
        mkdirSync(dirname(path), { recursive: true });
        writeFileAtomic(path, bytes, { mode: 0o640 });
      }
    }
    const e = input.evaluation;
    const version: ModelVersion = {
      version: this.list.length + 1,
      round: input.round,
      status: input.status,
      sha256,
      bytes: bytes.length,
      ...(input.parent !== undefined ? { parent: input.parent } : {}),
      createdAt: (this.options.clock?.() ?? new Date()).toISOString(),
      metrics: { accuracy: finiteOrNull(e.accuracy), loss: finiteOrNull(e.loss), ...Object.fromEntries(Object.entries(e.extra ?? {}).map(([k, v]) => [k, finiteOrNull(v)])) },
      perClassAccuracy: e.perClassAccuracy.map(finiteOrNull),
      reasons: [...(input.reasons ?? [])],
      probes: [...(input.probes ?? [])],
      findings: summariseFindings(input.findings ?? []),
      ...(blob ? { blob } : {}),
    };
    this.list.push(version);
    return version;
  }

  versions(): readonly ModelVersion[] {
    return this.list;
  }

  latestPromoted(): ModelVersion | undefined {
    return [...this.list].reverse().find((v) => v.status === 'promoted');
  }

  toJSON(): RegistryJson {
    return { format: REGISTRY_FORMAT, parameters: this.layout.size, versions: [...this.list] };
  }
}

/** The registry inside a results.json, validated, and the directory its blob paths are relative to. */
export function loadRegistry(resultsPath: string): { registry: RegistryJson; dir: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(resultsPath, 'utf8'));
  } catch (err) {
    fail('io', `cannot read ${resultsPath} as JSON: ${(err as Error).message}`, 'point --results at the results.json a `fedsec simulate` run wrote');
  }
  const section = (raw as { features?: { monitoring?: { registry?: unknown } } } | null)?.features?.monitoring?.registry;
  if (section === undefined) {
    fail('data', `${resultsPath} has no model registry`, 'run the simulation with a `monitoring:` section in its config (see examples/monitoring/)');
  }
  const parsed = registrySchema.safeParse(section);
  if (!parsed.success) {
    fail('data', `the model registry in ${resultsPath} is malformed:\n${parsed.error.issues.slice(0, 5).map((i) => `  - features.monitoring.registry.${i.path.join('.')}: ${i.message}`).join('\n')}`);
  }
  return { registry: parsed.data, dir: dirname(resolve(resultsPath)) };
}

/** Find a version by number, by "latest" (promoted), or by a SHA-256 prefix of at least 8 hex digits. */
export function findVersion(registry: RegistryJson, ref: string): ModelVersion {
  if (ref === 'latest') {
    const v = [...registry.versions].reverse().find((x) => x.status === 'promoted');
    if (!v) fail('data', 'the registry has no promoted version');
    return v;
  }
  // Up to 7 digits is a version number (runs are capped at 100,000 rounds); longer is a hash prefix.
  if (/^\d{1,7}$/.test(ref)) {
    const v = registry.versions.find((x) => x.version === Number(ref));
    if (!v) fail('data', `no model version ${ref}`, `versions are 1..${registry.versions.length}`);
    return v;
  }
  if (/^[0-9a-f]{8,64}$/.test(ref)) {
    const matches = registry.versions.filter((x) => x.sha256.startsWith(ref));
    const distinct = new Set(matches.map((m) => m.sha256));
    if (matches.length === 0) fail('data', `no model version has a SHA-256 starting with ${ref}`);
    if (distinct.size > 1) fail('data', `${ref} matches ${distinct.size} different models`, 'give more hex digits');
    return matches[0]!;
  }
  fail('config', `"${ref}" is not a version number, "latest", or a SHA-256 prefix (8+ lowercase hex digits)`);
}

/** Read a version's parameter blob and check it is the exact model the registry recorded. */
export function readVersionBlob(dir: string, version: ModelVersion): Buffer {
  if (!version.blob) {
    fail('data', `version ${version.version} (round ${version.round}, ${version.status}) has no stored parameters`,
      version.status === 'rejected' ? 'set monitoring.registry.store: all to keep rejected candidates too' : 'the run was made without an output directory');
  }
  const path = join(dir, version.blob);
  if (!existsSync(path)) fail('io', `the parameters of version ${version.version} are missing: ${path}`);
  const bytes = readFileSync(path);
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== version.sha256) fail('io', `${path} hashes to ${actual}, not the registered ${version.sha256}`, 'the file was modified or corrupted; do not use it');
  deserializeParams(bytes); // also a well-formed parameter blob
  return bytes;
}
