/**
 * The `monitoring` section of a run config: anomaly detectors, reputation, the validation gate,
 * backdoor probes, the model registry and alert sinks. `monitoring: {}` turns it all on with the
 * defaults below; probes and sinks other than the log run only when configured.
 */
import { z } from 'zod';
import { fail } from '../core/errors.js';

const unit = z.number().min(0).max(1);

export const detectorsSchema = z.strictObject({
  /**
   * Modified z-score of an update's norm (among the round's updates) above which it is an outlier
   * (critical above 3×). Not the textbook 3.5: with ~10 non-IID participants of very different data
   * sizes, honest updates reached z ≈ 6.6 in our runs; a boosted attacker scores 40+.
   */
  normZ: z.number().positive().default(8),
  /** …or its norm over the median of its own earlier norms above this ratio. */
  historyRatio: z.number().gt(1).default(5),
  /** Rounds of a participant's history needed before its history is used. */
  minHistory: z.number().int().min(1).default(3),
  /** Cosine to the round's robust centre (coordinate-wise median) below which an update points the other way. */
  flipCosine: z.number().min(-1).max(1).default(-0.1),
  /** Modified z-score of the distance from the robust centre above which an update is far from the others (honest: up to ≈ 12 in our runs). */
  centreZ: z.number().positive().default(15),
  /** Absolute held-out accuracy drop, against the model the round started from, that raises `accuracy-drop`. */
  accuracyDrop: unit.default(0.05),
  /** …and makes it critical. */
  criticalAccuracyDrop: unit.default(0.2),
  /** Absolute per-class accuracy drop that raises `class-collapse`. */
  classDrop: unit.default(0.3),
  /** Pairwise cosine at or above which two updates are suspiciously alike (`sybil-cluster`). */
  sybilCosine: z.number().min(-1).max(1).default(0.99),
}).refine((d) => d.criticalAccuracyDrop >= d.accuracyDrop, {
  message: 'criticalAccuracyDrop must be at least accuracyDrop',
  path: ['criticalAccuracyDrop'],
});

export const reputationSchema = z.strictObject({
  /** Per round, earlier evidence counts this much less (1 = never forget). */
  decay: z.number().gt(0).max(1).default(0.9),
  /** Scale each contribution's aggregation weight by its participant's reputation. */
  weighting: z.boolean().default(false),
  /** Reputation below which a participant's contributions get weight 0 (0 = never exclude). */
  exclude: unit.default(0),
}).refine((r) => r.exclude < 0.5, { message: 'exclude must be below 0.5, the reputation of a newcomer (otherwise everyone starts excluded)', path: ['exclude'] });

export const gateSchema = z.strictObject({
  enabled: z.boolean().default(true),
  /** A candidate may be at most this much less accurate than the last promoted model. */
  accuracyTolerance: unit.default(0.02),
  /** …and no class may lose more than this accuracy against it. */
  classDropLimit: unit.default(0.2),
  /** Finding types that reject a candidate outright (backdoor probes raise `backdoor-suspected`)… */
  blockOn: z.array(z.string().min(1)).default(['backdoor-suspected', 'backdoor-contributor']),
  /** …when at least this severe. */
  blockSeverity: z.enum(['warning', 'critical']).default('critical'),
  /** After a rejection, train on from the last promoted model (safe) or from the rejected candidate. */
  continueFrom: z.enum(['promoted', 'candidate']).default('promoted'),
});

const probeCommon = {
  /** Run every this many rounds (1 = every round). */
  every: z.number().int().min(1).default(1),
  /** Validation examples the probe uses (a seeded, class-stratified sample of the held-out set). */
  samples: z.number().int().min(10).max(10_000),
};

export const neuralCleanseConfigSchema = z.strictObject({
  ...probeCommon,
  samples: probeCommon.samples.default(100),
  steps: z.number().int().min(1).max(10_000).default(150),
  learningRate: z.number().positive().max(10).default(0.1),
  lambda: z.number().positive().max(100).default(0.01),
  targetSuccess: z.number().gt(0).max(1).default(0.9),
  threshold: z.number().positive().default(2),
  checkEvery: z.number().int().min(1).default(10),
  classes: z.array(z.number().int().min(0)).min(3, 'list at least 3 classes (an outlier needs others to stand out from)').optional(),
  /**
   * A contribution whose removal lowers the reversed trigger's success by more than this carries it
   * (`backdoor-contributor`); only then is the flagged class critical (blocks the gate by default).
   */
  attributionMargin: unit.default(0.2),

}).refine((c) => c.checkEvery <= c.steps, { message: 'checkEvery must not exceed steps (the trigger is checked every checkEvery steps)', path: ['checkEvery'] });

export const activationClusteringConfigSchema = z.strictObject({
  ...probeCommon,
  samples: probeCommon.samples.default(1000),
  components: z.number().int().min(1).max(100).default(5),
  maxRelativeSize: z.number().gt(0).max(0.5).default(0.35),
  minRelativeSize: unit.default(0.05),
  minSilhouette: z.number().min(-1).max(1).default(0.25),
  minClassSize: z.number().int().min(4).default(20),
  maxPerClass: z.number().int().min(4).max(5000).default(300),
  groupBy: z.enum(['label', 'prediction']).default('label'),
}).refine((c) => c.minRelativeSize < c.maxRelativeSize, { message: 'minRelativeSize must be below maxRelativeSize', path: ['minRelativeSize'] });

export const probesSchema = z.strictObject({
  neuralCleanse: neuralCleanseConfigSchema.optional(),
  activationClustering: activationClusteringConfigSchema.optional(),
});

export const severitySchema = z.enum(['info', 'warning', 'critical']);

const loopbackHosts = new Set(['127.0.0.1', '::1', '[::1]', 'localhost']);

export const webhookConfigSchema = z.strictObject({
  url: z.url().refine((u) => {
    const url = new URL(u);
    return url.protocol === 'https:' || (url.protocol === 'http:' && loopbackHosts.has(url.hostname));
  }, { message: 'the webhook must use https:// (plain http:// is only accepted for a loopback address)' }),
  /** Environment variable holding the shared HMAC secret (never the secret itself in a config file). */
  secretEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name, e.g. FEDSEC_ALERT_SECRET'),
  timeoutMs: z.number().int().positive().max(120_000).default(5000),
  /** Retries after the first attempt (network errors, 408, 429, 5xx). */
  retries: z.number().int().min(0).max(10).default(4),
  backoffMs: z.number().int().positive().max(60_000).default(500),
  maxBackoffMs: z.number().int().positive().max(600_000).default(8000),
});

export const alertsSchema = z.strictObject({
  /** Findings below this severity are logged but not sent to the file/webhook sinks. */
  minSeverity: severitySchema.default('warning'),
  /** An alert with the same type and subject within this window is counted, not re-sent. */
  dedupWindowMs: z.number().int().min(0).default(600_000),
  /** At most this many alerts per minute per sink; the rest are counted and summarised. */
  maxPerMinute: z.number().int().min(1).default(30),
  /** Structured log (JSON lines) of every finding and gate decision. */
  log: z.strictObject({
    to: z.enum(['file', 'stderr', 'off']).default('file'),
    /** For `to: file`: default monitoring.jsonl in the run's output directory. */
    path: z.string().min(1).optional(),
  }).default({ to: 'file' }),
  /** Alerts appended as JSON lines to a local file. */
  file: z.strictObject({ path: z.string().min(1) }).optional(),
  webhook: webhookConfigSchema.optional(),
});

export const registryConfigSchema = z.strictObject({
  /** Which versions' parameters are written to <out>/models/<sha256>.fsp. */
  store: z.enum(['promoted', 'all', 'none']).default('promoted'),
});

export const monitoringConfigSchema = z.strictObject({
  detectors: detectorsSchema.default(detectorsSchema.parse({})),
  reputation: reputationSchema.default(reputationSchema.parse({})),
  gate: gateSchema.default(gateSchema.parse({})),
  probes: probesSchema.default({}),
  alerts: alertsSchema.default(alertsSchema.parse({})),
  registry: registryConfigSchema.default({ store: 'promoted' }),
});

export type MonitoringConfig = z.infer<typeof monitoringConfigSchema>;
export type DetectorConfig = z.infer<typeof detectorsSchema>;
export type ReputationConfig = z.infer<typeof reputationSchema>;
export type GateConfig = z.infer<typeof gateSchema>;
export type NeuralCleanseConfig = z.infer<typeof neuralCleanseConfigSchema>;
export type ActivationClusteringConfig = z.infer<typeof activationClusteringConfigSchema>;
export type AlertsConfig = z.infer<typeof alertsSchema>;
export type WebhookConfig = z.infer<typeof webhookConfigSchema>;
export type Severity = z.infer<typeof severitySchema>;

/** Validate a monitoring section on its own (e.g. from a deployment config), naming each bad field. */
export function parseMonitoringConfig(raw: unknown): MonitoringConfig {
  const r = monitoringConfigSchema.safeParse(raw ?? {});
  if (!r.success) {
    fail('config', `invalid monitoring config:\n${r.error.issues.map((i) => `  - monitoring.${i.path.join('.') || '(section)'}: ${i.message}`).join('\n')}`);
  }
  return r.data;
}
