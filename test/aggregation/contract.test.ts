// One contract suite over every registered aggregator (DISCO-style): each registry entry is run
// against the same invariants, according to the traits it declares.
import { describe, expect, it } from 'vitest';
import { aggregatorNames, aggregatorTraits, createAggregator } from '../../src/aggregation/registry.js';
import type { AggregationContext, Contribution } from '../../src/aggregation/types.js';
import { validateContributions } from '../../src/aggregation/validate.js';
import { FedsecError } from '../../src/core/errors.js';
import { SeededRng } from '../../src/core/rng.js';
import { l2Norm, mean } from '../../src/core/vector.js';

type Spec = { name: string; [k: string]: unknown };

/** Options some entries need (no sensible default), plus extra configurations worth covering. */
const EXTRA: Record<string, Spec[]> = {
  'norm-bound': [{ name: 'norm-bound', maxNorm: 1 }],
  bucketing: [
    { name: 'bucketing', bucketSize: 2, inner: { name: 'median' } },
    { name: 'bucketing', bucketSize: 2, inner: { name: 'krum' } },
  ],
  nnm: [
    { name: 'nnm', inner: { name: 'trimmed-mean' } },
    { name: 'nnm', inner: { name: 'geometric-median' } },
  ],
  'multi-krum': [{ name: 'multi-krum' }, { name: 'multi-krum', variant: 'byzfl', m: 2 }],
  'centered-clipping': [{ name: 'centered-clipping' }, { name: 'centered-clipping', center: 'zero', iterations: 3 }],
};

const SPECS: Spec[] = aggregatorNames().flatMap((name) => EXTRA[name] ?? [{ name }]);
const DIM = 12;
const F = 1;

function randomRows(n: number, seed: string, scale = 0.1): Float32Array[] {
  const rng = SeededRng.from('contract', seed);
  const base = Float32Array.from({ length: DIM }, () => rng.normal() * scale);
  return Array.from({ length: n }, () => Float32Array.from(base, (b) => b + rng.normal() * scale * 0.5));
}

function asContributions(rows: readonly Float32Array[]): Contribution[] {
  return rows.map((update, i) => ({ id: `p${i}`, update, weight: 10 + i }));
}

function ctxFor(rows: readonly Float32Array[], byzantine = F, seed = 'r'): AggregationContext {
  // FLTrust's root-dataset update: here the honest mean, which is what a clean server would see.
  return { round: 1, byzantine, rng: SeededRng.from('contract-round', seed), reference: mean(rows.slice(0, Math.max(1, rows.length - 1))) };
}

function sizeFor(spec: Spec): number {
  return Math.max(7, createAggregator(spec).requirement?.(F).min ?? 1);
}

function label(spec: Spec): string {
  return JSON.stringify(spec);
}

describe.each(SPECS.map((s) => [label(s), s] as const))('%s', (_label, spec) => {
  const traits = aggregatorTraits(spec);
  const n = sizeFor(spec);

  it('returns a finite aggregate of the input dimension and one diagnostic per contribution', () => {
    const rows = randomRows(n, 'dim');
    const input = asContributions(rows);
    const r = createAggregator(spec).aggregate(input, ctxFor(rows));
    expect(r.aggregate).toBeInstanceOf(Float32Array);
    expect(r.aggregate.length).toBe(DIM);
    expect(r.aggregate.every(Number.isFinite)).toBe(true);
    expect(r.diagnostics.map((d) => d.id)).toEqual(input.map((c) => c.id));
    const accepted = r.diagnostics.filter((d) => d.accepted);
    expect(accepted.length).toBeGreaterThan(0);
    expect(accepted.reduce((s, d) => s + d.weight, 0)).toBeCloseTo(1, 9);
    for (const d of r.diagnostics) {
      expect(d.weight).toBeGreaterThanOrEqual(0);
      if (!d.accepted) {
        expect(d.weight).toBe(0);
        expect(d.reason).toBeTruthy();
      }
    }
  });

  it('is deterministic for the same input and round seed', () => {
    const rows = randomRows(n, 'det');
    const a = createAggregator(spec).aggregate(asContributions(rows), ctxFor(rows));
    const b = createAggregator(spec).aggregate(asContributions(rows), ctxFor(rows));
    expect(Array.from(a.aggregate)).toEqual(Array.from(b.aggregate));
  });

  it.runIf(traits.meanOfIdentical)('aggregates identical updates to that update', () => {
    const u = randomRows(1, 'same')[0]!;
    const rows = Array.from({ length: n }, () => u.slice());
    const r = createAggregator(spec).aggregate(asContributions(rows), { ...ctxFor(rows), reference: u });
    r.aggregate.forEach((v, i) => expect(v).toBeCloseTo(u[i]!, 6));
  });

  it.runIf(traits.permutationInvariant)('does not depend on the order of the contributions', () => {
    const rows = randomRows(n, 'perm');
    const input = asContributions(rows);
    const shuffled = SeededRng.from('perm-order').shuffle(input.slice());
    expect(shuffled.map((c) => c.id)).not.toEqual(input.map((c) => c.id));
    const a = createAggregator(spec).aggregate(input, ctxFor(rows));
    const b = createAggregator(spec).aggregate(shuffled, ctxFor(rows));
    a.aggregate.forEach((v, i) => expect(b.aggregate[i]).toBeCloseTo(v, 6));
    const weightOf = new Map(b.diagnostics.map((d) => [d.id, d.weight]));
    for (const d of a.diagnostics) expect(weightOf.get(d.id)).toBeCloseTo(d.weight, 9);
  });

  it(traits.robust ? 'stays bounded when one update is huge' : 'is moved by one huge update (declared not robust)', () => {
    const rows = randomRows(n, 'huge');
    const honestMax = Math.max(...rows.map((r) => l2Norm(r)));
    rows[n - 1] = Float32Array.from({ length: DIM }, (_, i) => (i % 2 === 0 ? 1e6 : -1e6));
    const r = createAggregator(spec).aggregate(asContributions(rows), ctxFor(rows));
    const norm = l2Norm(r.aggregate);
    if (traits.robust) expect(norm).toBeLessThan(10 * Math.max(honestMax, 1));
    else expect(norm).toBeGreaterThan(1000);
  });

  it('rejects NaN, Inf and wrong-length updates with a reason and aggregates the rest', () => {
    const rows = randomRows(n + 3, 'bad');
    const input = asContributions(rows);
    const nanRow = rows[0]!.slice();
    nanRow[3] = NaN;
    const infRow = rows[1]!.slice();
    infRow[0] = -Infinity;
    input[0] = { ...input[0]!, update: nanRow };
    input[1] = { ...input[1]!, update: infRow };
    input[2] = { ...input[2]!, update: rows[2]!.slice(1) };
    const r = createAggregator(spec).aggregate(input, { ...ctxFor(rows.slice(3)), expectedDim: DIM });
    expect(r.aggregate.every(Number.isFinite)).toBe(true);
    expect(r.diagnostics[0]).toMatchObject({ accepted: false, weight: 0, reason: 'invalid: update has NaN at index 3' });
    expect(r.diagnostics[1]).toMatchObject({ accepted: false, weight: 0, reason: 'invalid: update has -Infinity at index 0' });
    expect(r.diagnostics[2]).toMatchObject({ accepted: false, weight: 0, reason: `invalid: update has length ${DIM - 1}, expected ${DIM}` });
    expect(r.diagnostics.filter((d) => d.accepted).reduce((s, d) => s + d.weight, 0)).toBeCloseTo(1, 9);
  });

  it('fails closed with a precondition error when too few valid updates remain', () => {
    const min = createAggregator(spec).requirement?.(F).min ?? 1;
    const rows = randomRows(min - 1, 'few');
    let error: unknown;
    try {
      createAggregator(spec).aggregate(asContributions(rows), ctxFor(rows.length > 0 ? rows : randomRows(1, 'x')));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(FedsecError);
    expect((error as FedsecError).code).toBe('precondition');
    expect((error as FedsecError).message).toMatch(new RegExp(`\\(n = ${min - 1}, f = ${F}\\)`));
    expect((error as FedsecError).message).toMatch(/add participants or lower byzantine/);
  });

  it('counts invalid updates out when checking its precondition', () => {
    const min = createAggregator(spec).requirement?.(F).min ?? 1;
    const rows = randomRows(min, 'few-valid');
    const input = asContributions(rows);
    const bad = rows[0]!.slice();
    bad[0] = NaN;
    input[0] = { ...input[0]!, update: bad };
    expect(() => createAggregator(spec).aggregate(input, { ...ctxFor(rows), expectedDim: DIM })).toThrowError(
      /1 of \d+ contributions were invalid \(p0: update has NaN at index 0\)/,
    );
  });
});

describe('the suite covers the registry', () => {
  it('has at least one configuration per registered name', () => {
    const covered = new Set(SPECS.map((s) => s.name));
    expect(aggregatorNames().filter((n) => !covered.has(n))).toEqual([]);
    expect(aggregatorNames()).toHaveLength(13);
  });

  it('strict validation throws instead of filtering', () => {
    const rows = randomRows(3, 'strict');
    const bad = rows[1]!.slice();
    bad[2] = Infinity;
    const input = asContributions(rows);
    input[1] = { ...input[1]!, update: bad };
    expect(() => validateContributions(input, { strict: true })).toThrowError(/contribution 1 \("p1"\) rejected: update has Infinity at index 2/);
  });
});
