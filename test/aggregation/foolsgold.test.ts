// FoolsGold's Sybil detection across rounds, and its state.
import { describe, expect, it } from 'vitest';
import { FoolsGold } from '../../src/aggregation/foolsgold.js';
import { SeededRng } from '../../src/core/rng.js';
import { context } from './helpers.js';

function round(fg: FoolsGold, rng: SeededRng, sybils: number, honest: number, dim = 20) {
  const poison = Float32Array.from({ length: dim }, (_, k) => (k === 0 ? 1 : 0));
  const contributions = [
    ...Array.from({ length: sybils }, (_, i) => ({
      id: `sybil-${i}`,
      update: Float32Array.from(poison, (p) => p + rng.normal() * 0.01),
      weight: 1,
    })),
    ...Array.from({ length: honest }, (_, i) => ({
      id: `honest-${i}`,
      update: Float32Array.from({ length: dim }, () => rng.normal()),
      weight: 1,
    })),
  ];
  return fg.aggregate(contributions, context(0));
}

describe('FoolsGold', () => {
  it('zeroes colluding near-identical participants and keeps diverse honest ones', () => {
    const fg = new FoolsGold({ confidence: 1 });
    const rng = SeededRng.from('foolsgold');
    let r = round(fg, rng, 4, 6);
    for (let t = 0; t < 4; t++) r = round(fg, rng, 4, 6);
    const sybil = r.diagnostics.filter((d) => d.id.startsWith('sybil'));
    const honest = r.diagnostics.filter((d) => d.id.startsWith('honest'));
    expect(sybil.every((d) => !d.accepted && d.weight === 0)).toBe(true);
    expect(sybil[0]!.reason).toMatch(/too similar to another participant's \(cosine (0\.99\d|1\.000) with sybil-\d\): likely Sybil/);
    expect(honest.every((d) => d.accepted && d.weight > 0)).toBe(true);
    expect(honest.reduce((s, d) => s + d.weight, 0)).toBeCloseTo(1, 12);
    // The poisoned coordinate is not dragged to the Sybils' value 1.
    expect(Math.abs(r.aggregate[0]!)).toBeLessThan(0.8);
  });

  it('keeps per-participant history: the sum of all its updates', () => {
    const fg = new FoolsGold({ confidence: 1 });
    fg.aggregate([{ id: 'a', update: Float32Array.of(1, 2), weight: 1 }], context(0));
    fg.aggregate([{ id: 'a', update: Float32Array.of(3, -1), weight: 1 }], context(0));
    expect(Array.from(fg.historyOf('a')!)).toEqual([4, 1]);
    expect(fg.historyOf('b')).toBeUndefined();
  });

  it('gives a lone participant full weight', () => {
    const r = new FoolsGold({ confidence: 1 }).aggregate([{ id: 'a', update: Float32Array.of(1, 2), weight: 1 }], context(0));
    expect(r.diagnostics[0]).toMatchObject({ accepted: true, weight: 1 });
    expect(Array.from(r.aggregate)).toEqual([1, 2]);
  });
});
