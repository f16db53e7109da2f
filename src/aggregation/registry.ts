/**
 * The aggregator registry: name → description, options schema (zod, with defaults) and factory.
 * Configs name an aggregator and its options in one object, e.g. `{ name: 'trimmed-mean', beta: 0.2 }`;
 * wrappers take an inner spec: `{ name: 'bucketing', bucketSize: 2, inner: { name: 'median' } }`.
 * Unknown names and unknown or invalid options fail with a message that lists what is valid.
 */
import { z } from 'zod';
import { fail } from '../core/errors.js';
import { parseEntryOptions } from '../core/options.js';
import { bucketing } from './bucketing.js';
import { bulyan } from './bulyan.js';
import { CenteredClipping } from './centered-clipping.js';
import { fedAvg } from './fedavg.js';
import { flTrust } from './fltrust.js';
import { FoolsGold } from './foolsgold.js';
import { geometricMedian } from './geometric-median.js';
import { krum } from './krum.js';
import { coordinateMedian } from './median.js';
import { nearestNeighbourMixing } from './nearest-neighbour-mixing.js';
import { normBound } from './norm-bound.js';
import { trimmedMean } from './trimmed-mean.js';
import type { Aggregator } from './types.js';

/** What the contract suite (and docs) may assume of an aggregator configured this way. */
export interface AggregatorTraits {
  /** Reordering the contributions (same round seed) leaves the aggregate and weights unchanged, up to float rounding. */
  readonly permutationInvariant: boolean;
  /** The output stays bounded when f of the updates are arbitrarily large. */
  readonly robust: boolean;
  /** All-identical updates (within any clipping radius) aggregate to that update. */
  readonly meanOfIdentical: boolean;
  /** Keeps state across rounds: create one instance per training run. */
  readonly stateful: boolean;
  readonly needsReference: boolean;
}

/** A config's aggregator: its name plus its options. */
export const aggregatorSpecSchema = z.looseObject({ name: z.string().min(1) });
export type AggregatorSpec = z.infer<typeof aggregatorSpecSchema>;

interface Entry {
  readonly description: string;
  readonly options: z.ZodType;
  create(options: unknown, path: string): Aggregator;
  traits(options: unknown, path: string): AggregatorTraits;
  /** Options with defaults filled and inner specs resolved. */
  resolve(options: unknown, path: string): Record<string, unknown>;
}


function define<S extends z.ZodType<Record<string, unknown>>>(
  name: string,
  description: string,
  options: S,
  build: (o: z.output<S>, path: string) => Aggregator,
  traits: AggregatorTraits | ((o: z.output<S>, path: string) => AggregatorTraits),
): [string, Entry] {
  const parse = (raw: unknown, path: string): z.output<S> => parseEntryOptions(options, raw, path, `aggregator "${name}"`);
  return [
    name,
    {
      description,
      options,
      create: (raw, path) => build(parse(raw, path), path),
      traits: (raw, path) => (typeof traits === 'function' ? traits(parse(raw, path), path) : traits),
      resolve: (raw, path) => {
        const o = parse(raw, path) as Record<string, unknown>;
        if (o.inner !== undefined) return { ...o, inner: resolveAggregatorSpec(o.inner, `${path}.inner`) };
        return o;
      },
    },
  ];
}

const plain = (overrides: Partial<AggregatorTraits> = {}): AggregatorTraits => ({
  permutationInvariant: true,
  robust: true,
  meanOfIdentical: true,
  stateful: false,
  needsReference: false,
  ...overrides,
});

const krumVariant = z
  .enum(['blanchard', 'byzfl'])
  .default('blanchard')
  .describe("'blanchard': n − f − 2 neighbours (the paper, Flower); 'byzfl': n − f − 1 (ByzFL)");

const entries = new Map<string, Entry>([
  define(
    'fedavg',
    'FedAvg: sample-weighted mean (McMahan et al. 2017). No robustness: the baseline.',
    z.strictObject({ weighted: z.boolean().default(true).describe('weight by contribution.weight (sample count)') }),
    (o) => fedAvg(o),
    plain({ robust: false }),
  ),
  define('median', 'Coordinate-wise median (Yin et al. 2018). Needs n ≥ 2f + 1.', z.strictObject({}), () => coordinateMedian(), plain()),
  define(
    'trimmed-mean',
    'Coordinate-wise trimmed mean (Yin et al. 2018): drop k smallest and k largest per coordinate; k = trim, ⌊β·n⌋, or f.',
    z
      .strictObject({
        beta: z.number().min(0).lt(0.5).optional().describe('fraction trimmed from each side'),
        trim: z.number().int().min(0).optional().describe('number trimmed from each side (default f)'),
      })
      .refine((o) => o.beta === undefined || o.trim === undefined, { message: 'give either beta or trim, not both' }),
    (o) => trimmedMean(o),
    (o) => plain({ robust: o.beta !== 0 && o.trim !== 0 }),
  ),
  define(
    'krum',
    'Krum (Blanchard et al. 2017): the update with the smallest sum of squared distances to its n − f − 2 nearest. Needs n > 2f + 2.',
    z.strictObject({ variant: krumVariant }),
    (o) => krum({ m: 1, variant: o.variant }),
    plain(),
  ),
  define(
    'multi-krum',
    'Multi-Krum (Blanchard et al. 2017): mean of the m best Krum scores (default m = n − f). Needs n > 2f + 2.',
    z.strictObject({
      m: z
        .union([z.number().int().min(1), z.literal('n-f')])
        .default('n-f')
        .describe("how many best-scored updates to average, or 'n-f'"),
      variant: krumVariant,
    }),
    (o) => krum({ m: o.m, variant: o.variant }),
    plain(),
  ),
  define(
    'bulyan',
    'Bulyan (El Mhamdi et al. 2018): iterated Krum selects n − 2f, then per coordinate the mean of the n − 4f closest to the median. Needs n ≥ 4f + 3.',
    z.strictObject({}),
    () => bulyan(),
    plain(),
  ),
  define(
    'geometric-median',
    'Geometric median by smoothed Weiszfeld (RFA, Pillutla et al. 2022). Needs n > 2f.',
    z.strictObject({
      nu: z.number().positive().default(1e-6).describe('smoothing ν: distances below it count as ν'),
      maxIterations: z.number().int().min(1).default(100),
      tolerance: z.number().min(0).default(1e-6).describe('stop when the objective changes by at most this fraction'),
      init: z.enum(['zero', 'mean', 'coordinate-median']).default('zero'),
      weighted: z.boolean().default(false).describe('use contribution.weight (self-reported) as αᵢ'),
    }),
    (o) => geometricMedian(o),
    plain(),
  ),
  define(
    'centered-clipping',
    'Centered clipping (Karimireddy et al. 2021): clip each update to radius τ around the previous aggregate, L times. Needs n > 2f.',
    z.strictObject({
      tau: z.number().positive().default(10).describe('clipping radius τ'),
      iterations: z.number().int().min(1).default(1).describe('clipping iterations L'),
      center: z.enum(['previous', 'zero']).default('previous').describe("start from the previous round's aggregate or the origin"),
    }),
    (o) => new CenteredClipping(o),
    (o) => plain({ stateful: o.center === 'previous' }),
  ),
  define(
    'norm-bound',
    'Norm bounding (Sun et al. 2019): clip each update to L2 norm M, then average.',
    z.strictObject({
      maxNorm: z.number().positive().describe('the bound M (required: it depends on the model and learning rate)'),
      weighted: z.boolean().default(false).describe('weight by contribution.weight (self-reported)'),
    }),
    (o) => normBound(o),
    plain(),
  ),
  define(
    'fltrust',
    "FLTrust (Cao et al. 2021): trust = ReLU(cos(update, server reference)), updates rescaled to the reference's norm. Needs the server's root-dataset update.",
    z.strictObject({}),
    () => flTrust(),
    plain({ needsReference: true }),
  ),
  define(
    'foolsgold',
    'FoolsGold (Fung et al. 2020): down-weights participants whose update histories are too similar (Sybils). Stateful.',
    z.strictObject({ confidence: z.number().positive().default(1).describe('logit confidence κ') }),
    (o) => new FoolsGold(o),
    plain({ robust: false, meanOfIdentical: false, stateful: true }),
  ),
  define(
    'bucketing',
    'Bucketing (Karimireddy et al. 2022): shuffle, average buckets of s, then an inner aggregator. Randomised.',
    z.strictObject({
      bucketSize: z.number().int().min(1).default(2).describe('updates per bucket s'),
      inner: aggregatorSpecSchema.describe('the aggregator applied to the bucket means'),
    }),
    (o, path) => bucketing({ bucketSize: o.bucketSize, inner: createAt(o.inner, `${path}.inner`) }),
    // Randomised by the round seed, but for a fixed seed the buckets do not depend on arrival order.
    (o, path) => traitsAt(o.inner, `${path}.inner`),
  ),
  define(
    'nnm',
    'Nearest-neighbour mixing (Allouah et al. 2023): replace each update by the mean of its n − f nearest, then an inner aggregator.',
    z.strictObject({ inner: aggregatorSpecSchema.describe('the aggregator applied to the mixed updates') }),
    (o, path) => nearestNeighbourMixing(createAt(o.inner, `${path}.inner`)),
    (o, path) => traitsAt(o.inner, `${path}.inner`),
  ),
]);

export function aggregatorNames(): string[] {
  return [...entries.keys()];
}

function lookup(spec: unknown, path: string): { entry: Entry; name: string; options: Record<string, unknown> } {
  const parsed = aggregatorSpecSchema.safeParse(spec);
  if (!parsed.success) {
    fail('config', `${path}: an aggregator spec is an object with a "name", got ${JSON.stringify(spec)}`, `e.g. { "name": "median" }; valid names: ${aggregatorNames().join(', ')}`);
  }
  const { name, ...options } = parsed.data;
  const entry = entries.get(name);
  if (entry === undefined) fail('config', `${path}: unknown aggregator "${name}"`, `use one of: ${aggregatorNames().join(', ')}`);
  return { entry, name, options };
}

function createAt(spec: unknown, path: string): Aggregator {
  const { entry, options } = lookup(spec, path);
  return entry.create(options, path);
}

function traitsAt(spec: unknown, path: string): AggregatorTraits {
  const { entry, options } = lookup(spec, path);
  return entry.traits(options, path);
}

/** Validate a spec and build its aggregator (stateful ones: one per training run). */
export function createAggregator(spec: unknown): Aggregator {
  return createAt(spec, 'aggregator');
}

/** What may be assumed of the aggregator a spec describes. */
export function aggregatorTraits(spec: unknown): AggregatorTraits {
  return traitsAt(spec, 'aggregator');
}

/** The spec with every default filled in (inner specs too): what a run record should store. */
export function resolveAggregatorSpec(spec: unknown, path = 'aggregator'): AggregatorSpec {
  const { entry, name, options } = lookup(spec, path);
  return { name, ...entry.resolve(options, path) };
}

/** For `--help`-style listings and docs: each aggregator with its description and options as JSON Schema. */
export function describeAggregators(): { name: string; description: string; options: unknown }[] {
  return [...entries].map(([name, e]) => ({ name, description: e.description, options: z.toJSONSchema(e.options, { io: 'input', unrepresentable: 'any' }) }));
}
