import { describe, expect, it } from 'vitest';
import {
  aggregatorNames,
  aggregatorTraits,
  createAggregator,
  describeAggregators,
  resolveAggregatorSpec,
} from '../../src/aggregation/registry.js';
import { FedsecError } from '../../src/core/errors.js';
import { SeededRng } from '../../src/core/rng.js';

function errorOf(f: () => unknown): FedsecError {
  try {
    f();
  } catch (e) {
    if (e instanceof FedsecError) return e;
    throw e;
  }
  throw new Error('expected a FedsecError');
}

describe('aggregator registry', () => {
  it('lists the valid names when the name is unknown', () => {
    const e = errorOf(() => createAggregator({ name: 'krumm' }));
    expect(e.code).toBe('config');
    expect(e.message).toContain('unknown aggregator "krumm"');
    for (const name of aggregatorNames()) expect(e.hint).toContain(name);
  });

  it('rejects specs that are not objects with a name', () => {
    expect(errorOf(() => createAggregator('median')).message).toMatch(/an aggregator spec is an object with a "name"/);
    expect(errorOf(() => createAggregator({ beta: 0.1 })).message).toMatch(/object with a "name"/);
  });

  it('names the bad option and lists the valid ones', () => {
    const e = errorOf(() => createAggregator({ name: 'trimmed-mean', betta: 0.2 }));
    expect(e.message).toMatch(/invalid options for aggregator "trimmed-mean": Unrecognized key: "betta"/);
    expect(e.hint).toBe('valid options: beta, trim');
    expect(errorOf(() => createAggregator({ name: 'trimmed-mean', beta: 0.5 })).message).toMatch(/beta: Too big/);
    expect(errorOf(() => createAggregator({ name: 'trimmed-mean', beta: 0.1, trim: 1 })).message).toMatch(/either beta or trim/);
    expect(errorOf(() => createAggregator({ name: 'norm-bound' })).message).toMatch(/maxNorm/);
    expect(errorOf(() => createAggregator({ name: 'median', foo: 1 })).hint).toBe('"median" takes no options');
  });

  it('reports errors in inner specs with their path', () => {
    expect(errorOf(() => createAggregator({ name: 'bucketing', inner: { name: 'nope' } })).message).toMatch(/^aggregator\.inner: unknown aggregator "nope"/);
    expect(errorOf(() => createAggregator({ name: 'nnm', inner: { name: 'bucketing', inner: { name: 'krum', m: 3 } } })).message).toMatch(
      /^aggregator\.inner\.inner: invalid options for aggregator "krum": Unrecognized key: "m"/,
    );
    expect(errorOf(() => createAggregator({ name: 'bucketing' })).message).toMatch(/inner/);
  });

  it('resolves a spec with every default filled in, inner specs included', () => {
    expect(resolveAggregatorSpec({ name: 'bucketing', inner: { name: 'geometric-median', nu: 0.1 } })).toEqual({
      name: 'bucketing',
      bucketSize: 2,
      inner: { name: 'geometric-median', nu: 0.1, maxIterations: 100, tolerance: 1e-6, init: 'zero', weighted: false },
    });
    expect(resolveAggregatorSpec({ name: 'multi-krum' })).toEqual({ name: 'multi-krum', m: 'n-f', variant: 'blanchard' });
  });

  it('derives wrapper traits and requirements from the inner aggregator', () => {
    expect(aggregatorTraits({ name: 'bucketing', inner: { name: 'fltrust' } })).toMatchObject({ needsReference: true, robust: true });
    expect(aggregatorTraits({ name: 'nnm', inner: { name: 'foolsgold' } })).toMatchObject({ stateful: true, robust: false });
    expect(createAggregator({ name: 'bucketing', inner: { name: 'fltrust' } }).needsReference).toBe(true);
    // Krum needs 2f + 3 = 5 buckets at f = 1; buckets of 2 need n ≥ 9.
    expect(createAggregator({ name: 'bucketing', bucketSize: 2, inner: { name: 'krum' } }).requirement?.(1).min).toBe(9);
    expect(createAggregator({ name: 'bulyan' }).requirement?.(2)).toEqual({ min: 11, rule: 'n ≥ 4f + 3 = 11' });
  });

  it('describes every aggregator with a JSON Schema of its options', () => {
    const described = describeAggregators();
    expect(described.map((d) => d.name)).toEqual(aggregatorNames());
    const tm = described.find((d) => d.name === 'geometric-median')!;
    expect(JSON.stringify(tm.options)).toContain('"maxIterations"');
    expect(described.every((d) => d.description.length > 20)).toBe(true);
  });

  it('rejects a bad byzantine count', () => {
    const agg = createAggregator({ name: 'median' });
    const c = [{ id: 'a', update: Float32Array.of(1), weight: 1 }];
    expect(() => agg.aggregate(c, { round: 0, byzantine: -1, rng: SeededRng.from(0) })).toThrowError(/byzantine \(f\) must be a non-negative integer, got -1/);
  });
});
