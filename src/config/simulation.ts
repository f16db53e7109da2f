/**
 * The simulation configuration: one zod schema, with defaults that make `fedsec simulate` with no
 * config run the reference federation (MNIST, 10 participants, Dirichlet α = 0.5, MLP).
 * Sections owned by other stages (aggregation, attacks, privacy, secure aggregation) are validated
 * by their own modules' schemas when the pipeline is built.
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { fail } from '../core/errors.js';
import { csvSourceSchema } from '../data/csv.js';
import { partitionSchema } from '../data/partition.js';
import { modelSpecSchema } from '../model/zoo.js';
import { dpConfigSchema } from '../privacy/config.js';
import { attackSectionSchema } from '../attacks/config.js';
import { monitoringConfigSchema } from '../monitoring/config.js';
import { secureAggregationConfigSchema } from '../secure/simulation-config.js';

export const datasetSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('mnist') }).strict(),
  csvSourceSchema.extend({ testFraction: z.number().gt(0).lt(1).default(0.2) }),
]);

export const samplingSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('all') }).strict(),
  z.object({ kind: z.literal('fixed'), perRound: z.number().int().positive() }).strict(),
  // Poisson sampling: each participant joins a round independently with probability `rate`
  // (what DP's amplification-by-sampling analysis assumes).
  z.object({ kind: z.literal('poisson'), rate: z.number().gt(0).max(1) }).strict(),
]);

export const trainingSchema = z.object({
  epochs: z.number().int().positive().max(1000).default(2),
  batchSize: z.number().int().positive().max(100_000).default(32),
  learningRate: z.number().positive().max(100).default(0.1),
  optimizer: z.enum(['sgd', 'momentum', 'adam']).default('sgd'),
  momentum: z.number().min(0).lt(1).optional(),
}).strict();

/** A registry reference such as `{ name: 'trimmed-mean', beta: 0.2 }`, checked by its registry. */
const registrySpec = z.object({ name: z.string().min(1) }).passthrough();

export const simulationConfigSchema = z.object({
  name: z.string().min(1).default('default'),
  seed: z.union([z.number().int(), z.string().min(1)]).default(42),
  dataset: datasetSchema.default({ kind: 'mnist' }),
  partition: partitionSchema.default({ kind: 'dirichlet', alpha: 0.5, minSize: 10 }),
  model: modelSpecSchema.default({ kind: 'mlp', hidden: [128] }),
  participants: z.number().int().min(1).max(10_000).default(10),
  rounds: z.number().int().min(1).max(100_000).default(20),
  sampling: samplingSchema.default({ kind: 'all' }),
  training: trainingSchema.default({ epochs: 2, batchSize: 32, learningRate: 0.1, optimizer: 'sgd' }),
  server: z.object({
    learningRate: z.number().positive().max(100).default(1),
    /** Rounds with fewer successful participants than this are skipped (the model is kept). */
    minParticipants: z.number().int().min(1).default(1),
    /** Per-participant deadline for a training reply. */
    timeoutMs: z.number().int().positive().default(600_000),
    /** FLTrust's clean root set: this many training examples, held out of every participant's data. */
    rootSamples: z.number().int().min(1).max(1_000_000).optional(),
  }).strict().default({ learningRate: 1, minParticipants: 1, timeoutMs: 600_000 }),
  aggregation: registrySpec.default({ name: 'fedavg' }),
  /** How many Byzantine participants robust aggregators must tolerate (f). */
  byzantine: z.number().int().min(0).default(0),
  /** Differential privacy (client-level DP-FedAvg or sample-level DP-SGD); see docs/privacy.md. */
  privacy: dpConfigSchema.optional(),
  /** A simulated attack: who is malicious, from which round, omniscient or not, which attack; see src/attacks/plan.ts. */
  attack: attackSectionSchema.optional(),
  /** Monitoring, validation gate, backdoor probes, model registry, alerts; see docs/monitoring.md. */
  monitoring: monitoringConfigSchema.optional(),
  /** SecAgg+ secure aggregation (optionally bucketed for robust aggregators); see docs/secure-aggregation.md. */
  secureAggregation: secureAggregationConfigSchema.optional(),
  runtime: z.object({
    backend: z.enum(['auto', 'tensorflow', 'wasm', 'cpu']).default('auto'),
    /** Worker threads training simulated participants; 0 trains in the main thread. */
    workers: z.number().int().min(0).max(64).default(2),
  }).strict().default({ backend: 'auto', workers: 2 }),
}).strict();

export type SimulationConfig = z.infer<typeof simulationConfigSchema>;
export type SimulationConfigInput = z.input<typeof simulationConfigSchema>;

/** Turn zod issues into lines a user can act on: the field path, then what is wrong. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
      return `  - ${path}: ${issue.message}`;
    })
    .join('\n');
}

export function parseSimulationConfig(input: unknown, source = 'config'): SimulationConfig {
  const parsed = simulationConfigSchema.safeParse(input ?? {});
  if (!parsed.success) fail('config', `invalid ${source}:\n${describeIssues(parsed.error)}`);
  return parsed.data;
}

/** Read a YAML or JSON file (by extension; YAML otherwise, since YAML is a superset of JSON). */
export function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    fail('config', `cannot read config file ${path}: ${(err as Error).message}`);
  }
  try {
    return extname(path).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    fail('config', `config file ${path} is not valid ${extname(path).toLowerCase() === '.json' ? 'JSON' : 'YAML'}: ${(err as Error).message}`);
  }
}
