/**
 * The server side of the data path, derived from the config: each feature (privacy budget and
 * central noise, adversaries, monitoring, the promotion gate, …) looks at its own config section
 * and wraps the engine options — Flower-style strategy wrappers rather than flags in the engine.
 */
import type { Vector } from '../core/vector.js';
import type { SimulationConfig } from '../config/simulation.js';
import type { LocalModel } from '../model/local-model.js';
import { privacyServerFeature } from '../privacy/server-feature.js';
import { attackServerFeature } from '../attacks/server-feature.js';
import { rootReferenceServerFeature } from '../aggregation/root-reference.js';
import { monitoringServerFeature } from '../monitoring/server-feature.js';
import { secureAggregationServerFeature } from '../secure/server-feature.js';
import type { EngineOptions } from './engine.js';
import type { FederationData } from './simulation-setup.js';

export interface ServerFeatureContext {
  readonly config: SimulationConfig;
  readonly data: FederationData;
  /** The coordinator's model runtime (evaluation, server-side training for FLTrust). */
  readonly model: LocalModel;
  /** The run's output directory, when there is one (e.g. for the model registry's blobs). */
  readonly outDir?: string;
}

export interface ServerFeature {
  readonly name: string;
  /** Wrap or extend the engine options (add a guard, an interceptor, a server stage, …). */
  configure?(options: EngineOptions): EngineOptions;
  /** Extra evaluation metrics for a candidate (e.g. backdoor attack success rate). */
  evaluate?(model: LocalModel, params: Vector): Record<string, number>;
  /** After the run: finish pending work (e.g. alert delivery); the returned section goes into results.json under features.<name>. */
  finish?(): Promise<Record<string, unknown> | undefined>;
}

export type ServerFeatureFactory = (ctx: ServerFeatureContext) => ServerFeature | undefined;

/** Factories in pipeline order; each returns undefined when its config section is off. */
// Secure aggregation after privacy: it collects over privacy's transport with privacy's (uniform) weights.
export const serverFeatureFactories: ServerFeatureFactory[] = [privacyServerFeature, secureAggregationServerFeature, monitoringServerFeature, attackServerFeature, rootReferenceServerFeature];

export function serverFeaturesFor(ctx: ServerFeatureContext): ServerFeature[] {
  return serverFeatureFactories.flatMap((make) => make(ctx) ?? []);
}
