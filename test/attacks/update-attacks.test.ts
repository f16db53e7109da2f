import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { alieZ } from '../../src/attacks/alie.js';
import { solveGamma } from '../../src/attacks/min-max.js';
import { createAttack, createUpdateAttack, resolveAttackSpec } from '../../src/attacks/registry.js';
import type { UpdateAttackContext } from '../../src/attacks/types.js';
import { SeededRng } from '../../src/core/rng.js';
import { cosineSimilarity, mean, squaredDistance } from '../../src/core/vector.js';

const X = [Float32Array.of(1, 2, 3), Float32Array.of(4, 5, 6), Float32Array.of(7, 8, 9)];

function ctx(benign: Float32Array[], extra: Partial<UpdateAttackContext> = {}): UpdateAttackContext {
  return { benign, own: benign[0]!, numMalicious: 2, numTotal: benign.length + 2, rng: SeededRng.from('attack-test'), ...extra };
}

function craft(spec: { name: string; [k: string]: unknown }, c: UpdateAttackContext): Float32Array[] {
  return createUpdateAttack(spec).craft(c);
}

function randomUpdates(n: number, d: number, seed: string): Float32Array[] {
  const rng = SeededRng.from(seed);
  const base = Float32Array.from({ length: d }, () => rng.normal());
  return Array.from({ length: n }, () => Float32Array.from(base, (b) => b + rng.normal() * 0.5));
}

describe('ALIE', () => {
  it("uses Baruch et al.'s z: n = 50, f = 10 → s = 16, z = Φ⁻¹(24/40) ≈ 0.2534", () => {
    expect(alieZ(50, 10)).toBeCloseTo(0.2533471031357997, 12);
    // n = 10, f = 2: s = 4, z = Φ⁻¹(4/8) = 0.
    expect(alieZ(10, 2)).toBe(0);
  });

  it('refuses an attacker majority or too few participants, pointing at the fixed-z option', () => {
    expect(() => alieZ(10, 6)).toThrowError(/ALIE's z is undefined for n = 10, f = 6.*set z explicitly/);
    expect(() => alieZ(2, 1)).toThrowError(/undefined for n = 2, f = 1/);
  });

  it('ByzFL example: fixed τ = 1.5, sample std, mean + τ·std → [8.5, 9.5, 10.5]', () => {
    const out = craft({ name: 'alie', z: 1.5, direction: 'plus' }, ctx(X));
    expect(out).toHaveLength(2);
    for (const v of out) expect(Array.from(v)).toEqual([8.5, 9.5, 10.5]);
  });

  it("the paper's direction (default) subtracts: mean − 1.5·std → [−0.5, 0.5, 1.5]", () => {
    expect(Array.from(craft({ name: 'alie', z: 1.5 }, ctx(X))[0]!)).toEqual([-0.5, 0.5, 1.5]);
  });

  it('computes z from numTotal and numMalicious when not fixed', () => {
    const benign = randomUpdates(40, 5, 'alie');
    const out = craft({ name: 'alie' }, ctx(benign, { numMalicious: 10, numTotal: 50 }))[0]!;
    const m = mean(benign);
    const z = alieZ(50, 10);
    for (let k = 0; k < 5; k++) {
      const col = benign.map((b) => b[k]!);
      const sd = Math.sqrt(col.reduce((s, x) => s + (x - m[k]!) ** 2, 0) / (col.length - 1));
      expect(out[k]).toBeCloseTo(m[k]! - z * sd, 5);
    }
  });

  it('needs two reference updates for a sample std', () => {
    expect(() => craft({ name: 'alie', z: 1 }, ctx([X[0]!]))).toThrowError(/ALIE needs at least 2 reference updates, got 1 — make the attack omniscient/);
  });
});

describe('IPM', () => {
  it('ByzFL example: τ = 2 → −2 × mean = [−8, −10, −12]', () => {
    expect(Array.from(craft({ name: 'ipm', epsilon: 2 }, ctx(X))[0]!)).toEqual([-8, -10, -12]);
  });

  it('points against the benign mean (negative inner product / cosine −1)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.double({ min: 0.01, max: 100, noNaN: true }), fc.string(), (n, eps, seed) => {
        const benign = randomUpdates(n, 6, seed);
        const m = mean(benign);
        const out = craft({ name: 'ipm', epsilon: eps }, ctx(benign))[0]!;
        expect(cosineSimilarity(out, m)).toBeCloseTo(-1, 5);
      }),
    );
  });
});

describe('min-max and min-sum', () => {
  const benign = randomUpdates(12, 30, 'minmax');
  const n = benign.length;
  const maxPairwise = Math.max(...benign.flatMap((a) => benign.map((b) => squaredDistance(a, b))));
  const maxRowSum = Math.max(...benign.map((a) => benign.reduce((s, b) => s + squaredDistance(a, b), 0)));

  it.each(['unit-vector', 'std', 'sign'] as const)('min-max (%s) stays within the benign maximum distance, and uses all of it', (perturbation) => {
    const m = craft({ name: 'min-max', perturbation }, ctx(benign))[0]!;
    const worst = Math.max(...benign.map((b) => squaredDistance(m, b)));
    expect(worst).toBeLessThanOrEqual(maxPairwise * (1 + 1e-5));
    expect(worst).toBeGreaterThan(maxPairwise * (1 - 1e-4));
    expect(squaredDistance(m, mean(benign))).toBeGreaterThan(0);
  });

  it.each(['unit-vector', 'std', 'sign'] as const)('min-sum (%s) keeps the sum of squared distances within the benign maximum', (perturbation) => {
    const m = craft({ name: 'min-sum', perturbation }, ctx(benign))[0]!;
    const sum = benign.reduce((s, b) => s + squaredDistance(m, b), 0);
    expect(sum).toBeLessThanOrEqual(maxRowSum * (1 + 1e-5));
    expect(sum).toBeGreaterThan(maxRowSum * (1 - 1e-4));
  });

  it("the exact γ agrees with the paper's binary search", () => {
    for (const objective of ['min-max', 'min-sum'] as const) {
      const base = { perturbation: 'std' as const, gammaInit: 50, tolerance: 1e-7 };
      const exact = solveGamma(benign, objective, { ...base, search: 'exact' }).gamma;
      const bisect = solveGamma(benign, objective, { ...base, search: 'bisection' }).gamma;
      expect(exact).toBeGreaterThan(0);
      expect(bisect).toBeLessThanOrEqual(exact * (1 + 1e-9));
      expect(bisect).toBeCloseTo(exact, 5);
    }
    expect(n).toBe(12);
  });

  it('sends the mean when the reference updates are identical', () => {
    const same = [Float32Array.of(1, 2), Float32Array.of(1, 2), Float32Array.of(1, 2)];
    expect(Array.from(craft({ name: 'min-max' }, ctx(same))[0]!)).toEqual([1, 2]);
  });
});

describe('simple update attacks', () => {
  it('sign flip sends −s × each attacker\'s own update', () => {
    const own = Float32Array.of(1, -2, 3);
    expect(Array.from(craft({ name: 'sign-flip' }, ctx(X, { own }))[1]!)).toEqual([-1, 2, -3]);
    const ownAll = [Float32Array.of(1, 1, 1), Float32Array.of(0, 2, 0)];
    const out = craft({ name: 'sign-flip', scale: 3 }, ctx(X, { own, ownAll }));
    expect(out.map((v) => Array.from(v))).toEqual([
      [-3, -3, -3],
      [-0, -6, -0],
    ]);
  });

  it('scaling boosts by n / k by default', () => {
    const out = craft({ name: 'scaling' }, ctx(X, { own: Float32Array.of(1, 2, 3), numMalicious: 2, numTotal: 10 }));
    expect(Array.from(out[0]!)).toEqual([5, 10, 15]);
    expect(Array.from(craft({ name: 'scaling', factor: -1 }, ctx(X, { own: Float32Array.of(1, 2, 3) }))[0]!)).toEqual([-1, -2, -3]);
  });

  it('Gaussian noise is N(0, σ²), independent per attacker, reproducible per seed', () => {
    const c = () => ctx([new Float32Array(20_000)], { rng: SeededRng.from('noise') });
    const [a, b] = craft({ name: 'gaussian-noise', sigma: 2 }, c());
    const sd = Math.sqrt(a!.reduce((s, x) => s + x * x, 0) / a!.length);
    expect(sd).toBeGreaterThan(1.95);
    expect(sd).toBeLessThan(2.05);
    expect(Array.from(a!)).not.toEqual(Array.from(b!));
    expect(Array.from(craft({ name: 'gaussian-noise', sigma: 2 }, c())[0]!)).toEqual(Array.from(a!));
  });

  it('Sybil passes the real attacker count to its base attack (ALIE z depends on it)', () => {
    const benign = randomUpdates(40, 5, 'sybil-alie');
    const c = ctx(benign, { numMalicious: 10, numTotal: 50 });
    const direct = craft({ name: 'alie' }, c)[0]!;
    const viaSybil = craft({ name: 'sybil', base: { name: 'alie' }, noise: 0 }, c);
    expect(viaSybil).toHaveLength(10);
    expect(Array.from(viaSybil[9]!)).toEqual(Array.from(direct));
  });

  it('Sybil identities send near-identical, not identical, copies of the base attack', () => {
    const own = randomUpdates(1, 100, 'sybil-own')[0]!;
    const out = craft({ name: 'sybil', base: { name: 'sign-flip' }, noise: 0.01 }, ctx([own], { numMalicious: 5, numTotal: 20 }));
    expect(out).toHaveLength(5);
    for (let i = 0; i < 5; i++) {
      expect(cosineSimilarity(out[i]!, own)).toBeLessThan(-0.999);
      for (let j = i + 1; j < 5; j++) {
        expect(cosineSimilarity(out[i]!, out[j]!)).toBeGreaterThan(0.999);
        expect(Array.from(out[i]!)).not.toEqual(Array.from(out[j]!));
      }
    }
  });
});

describe('attack registry', () => {
  it('lists valid names for an unknown attack and valid options for a typo', () => {
    expect(() => createAttack({ name: 'lie' })).toThrowError(/unknown attack "lie" — use one of: sign-flip, gaussian-noise, scaling, alie, ipm, min-max, min-sum, sybil, label-flip, backdoor/);
    expect(() => createAttack({ name: 'ipm', eps: 1 })).toThrowError(/Unrecognized key: "eps" — valid options: epsilon/);
    expect(() => createAttack({ name: 'backdoor' })).toThrowError(/targetLabel/);
  });

  it('keeps update and data attacks apart', () => {
    expect(() => createUpdateAttack({ name: 'label-flip' })).toThrowError(/poisons data, not updates/);
    expect(() => createAttack({ name: 'sybil', base: { name: 'backdoor', targetLabel: 1 } })).toThrowError(/attack\.base: "backdoor" is a data attack/);
  });

  it('resolves defaults, nested ones included', () => {
    expect(resolveAttackSpec({ name: 'sybil' })).toEqual({ name: 'sybil', base: { name: 'sign-flip', scale: 1 }, noise: 0.001 });
    expect(resolveAttackSpec({ name: 'backdoor', targetLabel: 7 })).toEqual({
      name: 'backdoor',
      targetLabel: 7,
      trigger: { size: 4, position: 'bottom-right', margin: 1, value: 1 },
      poisonFraction: 0.5,
      mode: 'replace',
      boost: 'model-replacement',
      serverLearningRate: 1,
    });
  });

  it('checks reference updates against the own update length', () => {
    expect(() => craft({ name: 'ipm' }, ctx(X, { own: Float32Array.of(1, 2) }))).toThrowError(/reference update 0 has length 3, own update has 2/);
  });
});
