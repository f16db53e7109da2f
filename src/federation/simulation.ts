/**
 * `fedsec simulate`: the round engine over simulated participants. Builds the pipeline from the
 * config (data, partitions, model, aggregator, client/server chains), runs it, and returns the
 * results; the CLI prints and writes them.
 */
import { fail } from '../core/errors.js';
import type { SimulationConfig } from '../config/simulation.js';
import { createAggregator } from '../aggregation/registry.js';
import { initRuntime } from '../model/backend.js';
import { LocalModel } from '../model/local-model.js';
import { InProcessTransport } from '../transport/in-process.js';
import type { ParticipantTransport } from '../transport/types.js';
import { WorkerPoolTransport } from '../transport/worker-pool.js';
import type { EngineOptions, Evaluation, RoundObserver, RunResult } from './engine.js';
import { RoundEngine } from './engine.js';
import { buildSimulatedParticipants, loadFederationData } from './simulation-setup.js';
import type { ServerFeatureContext } from './server-pipeline.js';
import { serverFeaturesFor } from './server-pipeline.js';

export interface SimulationResult extends RunResult {
  readonly config: SimulationConfig;
  readonly runtime: { readonly backend: string; readonly workers: number; readonly tunedKernels: readonly string[] };
  readonly partitionSizes: readonly number[];
  readonly startedAt: string;
  readonly totalMs: number;
  /** Sections the server features returned at the end of the run (e.g. the model registry). */
  readonly features?: Readonly<Record<string, unknown>>;
}

export async function runSimulation(config: SimulationConfig, observers: readonly RoundObserver[] = [], { outDir }: { readonly outDir?: string } = {}): Promise<SimulationResult> {
  const startedAt = new Date().toISOString();
  const t0 = performance.now();
  const runtime = await initRuntime(config.runtime.backend);
  const data = loadFederationData(config);
  const emptyOwner = data.partitions.findIndex((p) => p.length === 0);
  if (emptyOwner >= 0) fail('config', `participant ${data.participantIds[emptyOwner]} received no training data`, 'use fewer participants or a less skewed partition');

  // The coordinator's copy of the model: the initial parameters and held-out evaluation.
  const model = await LocalModel.create(config.model, data.train.featureShape, data.train.numClasses, config.seed);
  const ctx: ServerFeatureContext = { config, data, model, ...(outDir !== undefined ? { outDir } : {}) };
  const features = serverFeaturesFor(ctx);
  const evaluate = (params: Float32Array): Evaluation => {
    model.setParams(params);
    const base = model.evaluate(data.test);
    const extra = Object.assign({}, ...features.map((f) => f.evaluate?.(model, params) ?? {})) as Record<string, number>;
    return Object.keys(extra).length > 0 ? { ...base, extra } : base;
  };

  const transport: ParticipantTransport = config.runtime.workers > 0
    ? await WorkerPoolTransport.start(config, data.participantIds, config.runtime.workers)
    : new InProcessTransport(await buildSimulatedParticipants(config, data.participantIds));
  try {
    let options: EngineOptions = {
      transport,
      initialParams: model.getParams(),
      rounds: config.rounds,
      sampling: config.sampling,
      training: config.training,
      aggregator: createAggregator(config.aggregation),
      byzantine: config.byzantine,
      serverLearningRate: config.server.learningRate,
      minParticipants: config.server.minParticipants,
      timeoutMs: config.server.timeoutMs,
      seed: config.seed,
      evaluate,
      observers,
    };
    for (const feature of features) options = feature.configure?.(options) ?? options;
    const result = await new RoundEngine(options).run();
    const sections: Record<string, unknown> = {};
    for (const feature of features) {
      const section = await feature.finish?.();
      if (section) sections[feature.name] = section;
    }
    return {
      ...result,
      config,
      runtime: { backend: runtime.backend, workers: config.runtime.workers, tunedKernels: runtime.tunedKernels },
      partitionSizes: data.partitions.map((p) => p.length),
      startedAt,
      totalMs: performance.now() - t0,
      ...(Object.keys(sections).length > 0 ? { features: sections } : {}),
    };
  } finally {
    await transport.close();
    model.dispose();
  }
}
