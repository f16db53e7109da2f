/**
 * Monitoring in a simulation (a ServerFeature factory, on when the config has a `monitoring`
 * section): adds the RoundMonitor as an inspector, the RegistryGate as the promotion gate (wrapping
 * any gate already configured), optionally reputation-weighted aggregation, and at the end of the
 * run flushes alerts and returns the registry, reputations and alert counts for results.json.
 */
import { join, resolve } from 'node:path';
import { fail } from '../core/errors.js';
import type { SimulationConfig } from '../config/simulation.js';
import type { EngineOptions } from '../federation/engine.js';
import type { ServerFeature, ServerFeatureContext } from '../federation/server-pipeline.js';
import type { Alert, AlertSink } from './alerts/alert.js';
import { AlertDispatcher } from './alerts/alert-dispatcher.js';
import { FileSink } from './alerts/file-sink.js';
import { StructuredLog } from './alerts/structured-log.js';
import { WebhookSink } from './alerts/webhook-sink.js';
import type { ProbeSetup } from './backdoor-probes.js';
import { stratifiedSample } from './backdoor-probes.js';
import type { MonitoringConfig, Severity } from './config.js';
import { ModelRegistry } from './model-registry.js';
import { RegistryGate } from './registry-gate.js';
import { ReputationTracker, reputationWeighted } from './reputation.js';
import { RoundMonitor } from './round-monitor.js';

function structuredLog(cfg: MonitoringConfig, outDir: string | undefined): StructuredLog {
  const log = cfg.alerts.log;
  if (log.to === 'off') return StructuredLog.off();
  if (log.to === 'stderr') return StructuredLog.toStderr();
  if (log.path) return StructuredLog.toFile(resolve(log.path));
  return outDir ? StructuredLog.toFile(join(outDir, 'monitoring.jsonl')) : StructuredLog.toStderr();
}

function alertSinks(cfg: MonitoringConfig, env: NodeJS.ProcessEnv): { sink: AlertSink; minSeverity: Severity }[] {
  const sinks: { sink: AlertSink; minSeverity: Severity }[] = [];
  const min = cfg.alerts.minSeverity;
  if (cfg.alerts.file) sinks.push({ sink: new FileSink(resolve(cfg.alerts.file.path)), minSeverity: min });
  const hook = cfg.alerts.webhook;
  if (hook) {
    const secret = env[hook.secretEnv];
    if (!secret) {
      fail('config', `monitoring.alerts.webhook.secretEnv names ${hook.secretEnv}, but that environment variable is not set`, `export ${hook.secretEnv}=$(openssl rand -hex 32) (the receiver needs the same value)`);
    }
    sinks.push({ sink: new WebhookSink({ ...hook, secret }), minSeverity: min });
  }
  return sinks;
}

function probeSetup(ctx: ServerFeatureContext, cfg: MonitoringConfig): ProbeSetup | undefined {
  const { neuralCleanse, activationClustering } = cfg.probes;
  if (!neuralCleanse && !activationClustering) return undefined;
  const numClasses = ctx.model.numClasses;
  const bad = (neuralCleanse?.classes ?? []).filter((c) => c >= numClasses);
  if (bad.length > 0) {
    fail('config', `monitoring.probes.neuralCleanse.classes lists ${bad.join(', ')}, but the model has classes 0..${numClasses - 1}`, 'remove them, or omit classes to probe every class');
  }
  const validation = ctx.data.test;
  return {
    model: ctx.model,
    seed: ctx.config.seed,
    serverLearningRate: ctx.config.server.learningRate,
    ...(neuralCleanse ? { neuralCleanse: { config: neuralCleanse, data: stratifiedSample(validation, neuralCleanse.samples, `${String(ctx.config.seed)}:nc`) } } : {}),
    ...(activationClustering ? { activationClustering: { config: activationClustering, data: stratifiedSample(validation, activationClustering.samples, `${String(ctx.config.seed)}:ac`) } } : {}),
  };
}

export function monitoringServerFeature(ctx: ServerFeatureContext, env: NodeJS.ProcessEnv = process.env): ServerFeature | undefined {
  const config: SimulationConfig = ctx.config;
  const cfg = config.monitoring;
  if (!cfg) return undefined;
  const outDir = ctx.outDir;
  const log = structuredLog(cfg, outDir);
  const alerts = new AlertDispatcher(alertSinks(cfg, env), {
    dedupWindowMs: cfg.alerts.dedupWindowMs,
    maxPerMinute: cfg.alerts.maxPerMinute,
    onError: (sink: string, alert: Alert, error: unknown) => log.log('error', 'alert-delivery-failed', { sink, alert: alert.id, type: alert.type, error: error instanceof Error ? error.message : String(error) }),
  });
  const reputation = new ReputationTracker(cfg.reputation);
  const probes = probeSetup(ctx, cfg);
  const monitor = new RoundMonitor({ config: cfg, run: config.name, seed: config.seed, reputation, log, alerts, ...(probes ? { probes } : {}) });
  const registry = new ModelRegistry(ctx.model.layout, { ...(outDir ? { outDir } : {}), store: cfg.registry.store });

  return {
    name: 'monitoring',
    configure(options: EngineOptions): EngineOptions {
      const gate = new RegistryGate({
        config: cfg.gate, registry, run: config.name, log, alerts,
        probesOf: (round) => monitor.probesOf(round),
        ...(options.gate ? { inner: options.gate } : {}),
      });
      const initialParams = options.initialParams;
      return {
        ...options,
        inspectors: [...(options.inspectors ?? []), monitor],
        gate,
        continueFrom: cfg.gate.continueFrom,
        aggregator: cfg.reputation.weighting ? reputationWeighted(options.aggregator, reputation, cfg.reputation) : options.aggregator,
        observers: [{ onRunStart: ({ initial }) => gate.registerInitial(initialParams, initial) }, ...(options.observers ?? [])],
      };
    },
    async finish(): Promise<Record<string, unknown>> {
      await alerts.flush();
      log.log('info', 'run-end', { alerts: alerts.stats, reputation: reputation.snapshot() });
      return { registry: registry.toJSON(), reputation: reputation.snapshot(), alerts: { ...alerts.stats, sinks: alerts.size } };
    },
  };
}
