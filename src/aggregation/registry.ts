/**
 * The aggregator registry: name → description, options schema (zod, with defaults) and factory.
 * Configs name an aggregator and its options in one object, e.g. `{ name: 'trimmed-mean', beta: 0.2 }`;
 * wrappers take an inner spec: `{ name: 'bucketing', bucketSize: 2, inner: { name: 'median' } }`.
 * Unknown names and unknown or invalid options fail with a message that lists what is valid.
 */
import { z } from 'zod';
import { Registry, registrySpecSchema, type RegistrySpec } from '../core/registry.js';
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
  /**
   * The aggregate is the (weighted) mean of the contributions, so it can be computed from sums
   * alone (secure aggregation without buckets); every other rule needs individual updates.
   */
  readonly linear: boolean;
  /** Contribution weights count (sample counts, or a bucket's member count under secure aggregation). */
  readonly usesWeights: boolean;
}

/** A config's aggregator: its name plus its options. */
export const aggregatorSpecSchema = registrySpecSchema;
export type AggregatorSpec = RegistrySpec;

const plain = (overrides: Partial<AggregatorTraits> = {}): AggregatorTraits => ({
  permutationInvariant: true,
  robust: true,
  meanOfIdentical: true,
  stateful: false,
  needsReference: false,
  linear: false,
  usesWeights: false,
  ...overrides,
});

const krumVariant = z
  .enum(['blanchard', 'byzfl'])
  .default('blanchard')
  .describe("'blanchard': n − f − 2 neighbours (the paper, Flower); 'byzfl': n − f − 1 (ByzFL)");

/** Every aggregator fedsec knows; add one with a file and one `define` here (or `aggregators.define` from outside). */
export const aggregators = new Registry<Aggregator, AggregatorTraits>('aggregator', '{ "name": "median" }')
  .define('fedavg', {
    description: 'FedAvg: sample-weighted mean (McMahan et al. 2017). No robustness: the baseline.',
    options: z.strictObject({ weighted: z.boolean().default(true).describe('weight by contribution.weight (sample count)') }),
    build: (o) => fedAvg(o),
    traits: (o) => plain({ robust: false, linear: true, usesWeights: o.weighted }),
  })
  .define('median', { description: 'Coordinate-wise median (Yin et al. 2018). Needs n ≥ 2f + 1.', options: z.strictObject({}), build: () => coordinateMedian(), traits: plain() })
  .define('trimmed-mean', {
    description: 'Coordinate-wise trimmed mean (Yin et al. 2018): drop k smallest and k largest per coordinate; k = trim, ⌊β·n⌋, or f.',
    options: z
      .strictObject({
        beta: z.number().min(0).lt(0.5).optional().describe('fraction trimmed from each side'),
        trim: z.number().int().min(0).optional().describe('number trimmed from each side (default f)'),
      })
      .refine((o) => o.beta === undefined || o.trim === undefined, { message: 'give either beta or trim, not both' }),
    build: (o) => trimmedMean(o),
    traits: (o) => plain({ robust: o.beta !== 0 && o.trim !== 0 }),
  })
  .define('krum', {
    description: 'Krum (Blanchard et al. 2017): the update with the smallest sum of squared distances to its n − f − 2 nearest. Needs n > 2f + 2.',
    options: z.strictObject({ variant: krumVariant }),
    build: (o) => krum({ m: 1, variant: o.variant }),
    traits: plain(),
  })
  .define('multi-krum', {
    description: 'Multi-Krum (Blanchard et al. 2017): mean of the m best Krum scores (default m = n − f). Needs n > 2f + 2.',
    options: z.strictObject({
      m: z
        .union([z.number().int().min(1), z.literal('n-f')])
        .default('n-f')
        .describe("how many best-scored updates to average, or 'n-f'"),
      variant: krumVariant,
    }),
    build: (o) => krum({ m: o.m, variant: o.variant }),
    traits: plain(),
  })
  .define('bulyan', {
    description: 'Bulyan (El Mhamdi et al. 2018): iterated Krum selects n − 2f, then per coordinate the mean of the n − 4f closest to the median. Needs n ≥ 4f + 3.',
    options: z.strictObject({}),
    build: () => bulyan(),
    traits: plain(),
  })
  .define('geometric-median', {
    description: 'Geometric median by smoothed Weiszfeld (RFA, Pillutla et al. 2022). Needs n > 2f.',
    options: z.strictObject({
      nu: z.number().positive().default(1e-6).describe('smoothing ν: distances below it count as ν'),
      maxIterations: z.number().int().min(1).default(100),
      tolerance: z.number().min(0).default(1e-6).describe('stop when the objective changes by at most this fraction'),
      init: z.enum(['zero', 'mean', 'coordinate-median']).default('zero'),
      weighted: z.boolean().default(false).describe('use contribution.weight (self-reported) as αᵢ'),
    }),
    build: (o) => geometricMedian(o),
    traits: (o) => plain({ usesWeights: o.weighted }),
  })
  .define('centered-clipping', {
    description: 'Centered clipping (Karimireddy et al. 2021): clip each update to radius τ around the previous aggregate, L times. Needs n > 2f.',
    options: z.strictObject({
      tau: z.number().positive().default(10).describe('clipping radius τ'),
      iterations: z.number().int().min(1).default(1).describe('clipping iterations L'),
      center: z.enum(['previous', 'zero']).default('previous').describe("start from the previous round's aggregate or the origin"),
    }),
    build: (o) => new CenteredClipping(o),
    traits: (o) => plain({ stateful: o.center === 'previous', usesWeights: true }),
  })
  .define('norm-bound', {
    description: 'Norm bounding (Sun et al. 2019): clip each update to L2 norm M, then average.',
    options: z.strictObject({
      maxNorm: z.number().positive().describe('the bound M (required: it depends on the model and learning rate)'),
      weighted: z.boolean().default(false).describe('weight by contribution.weight (self-reported)'),
    }),
    build: (o) => normBound(o),
    traits: (o) => plain({ usesWeights: o.weighted }),
  })
  .define('fltrust', {
    description: "FLTrust (Cao et al. 2021): trust = ReLU(cos(update, server reference)), updates rescaled to the reference's norm. Needs the server's root-dataset update.",
    options: z.strictObject({}),
    build: () => flTrust(),
    traits: plain({ needsReference: true }),
  })
  .define('foolsgold', {
    description: 'FoolsGold (Fung et al. 2020): down-weights participants whose update histories are too similar (Sybils). Stateful.',
    options: z.strictObject({ confidence: z.number().positive().default(1).describe('logit confidence κ') }),
    build: (o) => new FoolsGold(o),
    traits: plain({ robust: false, meanOfIdentical: false, stateful: true, usesWeights: true }),
  })
  .define('bucketing', {
    description: 'Bucketing (Karimireddy et al. 2022): shuffle, average buckets of s, then an inner aggregator. Randomised.',
    options: z.strictObject({
      bucketSize: z.number().int().min(1).default(2).describe('updates per bucket s'),
      inner: aggregatorSpecSchema.describe('the aggregator applied to the bucket means'),
    }),
    nested: ['inner'],
    build: (o, at) => bucketing({ bucketSize: o.bucketSize, inner: at.create(o.inner, 'inner') }),
    // Randomised by the round seed, but for a fixed seed the buckets do not depend on arrival order.
    traits: (o, at) => ({ ...at.traits(o.inner, 'inner'), linear: false }),
  })
  .define('nnm', {
    description: 'Nearest-neighbour mixing (Allouah et al. 2023): replace each update by the mean of its n − f nearest, then an inner aggregator.',
    options: z.strictObject({ inner: aggregatorSpecSchema.describe('the aggregator applied to the mixed updates') }),
    nested: ['inner'],
    build: (o, at) => nearestNeighbourMixing(at.create(o.inner, 'inner')),
    traits: (o, at) => ({ ...at.traits(o.inner, 'inner'), linear: false }),
  });

export function aggregatorNames(): string[] {
  return aggregators.names();
}

/** Validate a spec and build its aggregator (stateful ones: one per training run). */
export function createAggregator(spec: unknown): Aggregator {
  return aggregators.create(spec);
}

/** What may be assumed of the aggregator a spec describes. */
export function aggregatorTraits(spec: unknown): AggregatorTraits {
  return aggregators.traits(spec);
}

/** The spec with every default filled in (inner specs too): what a run record should store. */
export function resolveAggregatorSpec(spec: unknown, path = 'aggregator'): AggregatorSpec {
  return aggregators.resolve(spec, path);
}

/** For `--help`-style listings and docs: each aggregator with its description and options as JSON Schema. */
export function describeAggregators(): { name: string; description: string; options: unknown }[] {
  return aggregators.describe();
}
