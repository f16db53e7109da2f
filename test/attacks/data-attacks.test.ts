import { describe, expect, it } from 'vitest';
import { applyTrigger, backdoorTestSet, type Trigger } from '../../src/attacks/backdoor.js';
import { createAttack } from '../../src/attacks/registry.js';
import type { DataAttack } from '../../src/attacks/types.js';
import { SeededRng } from '../../src/core/rng.js';
import type { Dataset } from '../../src/data/dataset.js';

const TRIGGER: Trigger = { size: 4, position: 'bottom-right', margin: 1, value: 1 };

/** n 28×28 grey images (value 0.25 + label/100), labels i mod 10. */
function images(n: number, shape: number[] = [28, 28, 1]): Dataset {
  const f = shape.reduce((p, d) => p * d, 1);
  const y = Int32Array.from({ length: n }, (_, i) => i % 10);
  const x = new Float32Array(n * f);
  for (let i = 0; i < n; i++) x.fill(0.25 + y[i]! / 100, i * f, (i + 1) * f);
  return { name: 'toy', x, y, featureShape: shape, numClasses: 10, size: n };
}

function dataAttack(spec: { name: string; [k: string]: unknown }): DataAttack {
  const a = createAttack(spec);
  if (a.kind !== 'data') throw new Error('expected a data attack');
  return a;
}

/** Pixels (row, col) equal to `value` in a 28×28 single-channel example starting at `offset`. */
function pixelsEqual(x: Float32Array, offset: number, value: number): [number, number][] {
  const hits: [number, number][] = [];
  for (let r = 0; r < 28; r++) for (let c = 0; c < 28; c++) if (x[offset + r * 28 + c] === value) hits.push([r, c]);
  return hits;
}

describe('applyTrigger', () => {
  it('stamps a 4×4 white square one pixel in from the bottom-right corner, and nothing else', () => {
    const x = new Float32Array(784).fill(0.5);
    const out = applyTrigger(x, [28, 28, 1], TRIGGER);
    const white = pixelsEqual(out, 0, 1);
    expect(white).toHaveLength(16);
    expect(white[0]).toEqual([23, 23]);
    expect(white[15]).toEqual([26, 26]);
    expect(pixelsEqual(out, 0, 0.5)).toHaveLength(784 - 16);
    expect(x.every((v) => v === 0.5)).toBe(true); // input untouched
  });

  it('stamps every example of a batch, every channel, at the configured corner', () => {
    const batch = new Float32Array(3 * 8 * 8 * 3);
    const out = applyTrigger(batch, [8, 8, 3], { size: 2, position: 'top-left', margin: 0, value: 0.9 });
    for (let e = 0; e < 3; e++) {
      const base = e * 192;
      for (const [r, c] of [[0, 0], [0, 1], [1, 0], [1, 1]]) {
        for (let ch = 0; ch < 3; ch++) expect(out[base + (r! * 8 + c!) * 3 + ch]).toBeCloseTo(0.9, 6);
      }
      expect(out[base + (2 * 8 + 2) * 3]).toBe(0);
    }
  });

  it('refuses flat feature shapes, misfit triggers and ragged batches with actionable messages', () => {
    expect(() => applyTrigger(new Float32Array(784), [784], TRIGGER)).toThrowError(/needs image features \[height, width\].*got \[784\] — give the dataset its image featureShape/);
    expect(() => applyTrigger(new Float32Array(784), [28, 28], { ...TRIGGER, size: 28 })).toThrowError(/does not fit a 28×28 image/);
    expect(() => applyTrigger(new Float32Array(700), [28, 28], TRIGGER)).toThrowError(/not a multiple of the example size 784/);
  });
});

describe('backdoor data attack', () => {
  it('triggers and relabels the configured fraction of non-target examples, reproducibly', () => {
    const ds = images(40);
    const attack = dataAttack({ name: 'backdoor', targetLabel: 0, poisonFraction: 0.25 });
    const poisoned = attack.poison(ds, SeededRng.from('bd'));
    expect(poisoned.size).toBe(40);
    const changed = Array.from({ length: 40 }, (_, i) => i).filter((i) => poisoned.y[i] !== ds.y[i]);
    expect(changed).toHaveLength(10);
    for (const i of changed) {
      expect(poisoned.y[i]).toBe(0);
      expect(pixelsEqual(poisoned.x, i * 784, 1)).toHaveLength(16);
    }
    for (const i of [...Array(40).keys()].filter((i) => !changed.includes(i))) {
      expect(pixelsEqual(poisoned.x, i * 784, 1)).toHaveLength(0);
    }
    expect(Array.from(attack.poison(ds, SeededRng.from('bd')).y)).toEqual(Array.from(poisoned.y));
    expect(Array.from(ds.y)).toEqual(Array.from(images(40).y)); // original untouched
  });

  it("'append' mode adds triggered copies instead", () => {
    const ds = images(20);
    const poisoned = dataAttack({ name: 'backdoor', targetLabel: 3, poisonFraction: 0.5, mode: 'append' }).poison(ds, SeededRng.from('bd'));
    expect(poisoned.size).toBe(30);
    expect(Array.from(poisoned.y.subarray(0, 20))).toEqual(Array.from(ds.y));
    expect(Array.from(poisoned.y.subarray(20))).toEqual(new Array(10).fill(3));
  });

  it('scales the trained delta by γ = n / (η·k) for model replacement', () => {
    const attack = dataAttack({ name: 'backdoor', targetLabel: 0 });
    expect(Array.from(attack.transformUpdate!(Float32Array.of(1, -2), { numTotal: 10, numMalicious: 1 }))).toEqual([10, -20]);
    const eta = dataAttack({ name: 'backdoor', targetLabel: 0, serverLearningRate: 0.5 });
    expect(Array.from(eta.transformUpdate!(Float32Array.of(1), { numTotal: 10, numMalicious: 4 }))).toEqual([5]);
    const fixed = dataAttack({ name: 'backdoor', targetLabel: 0, boost: 1 });
    expect(Array.from(fixed.transformUpdate!(Float32Array.of(1), { numTotal: 10, numMalicious: 1 }))).toEqual([1]);
  });

  it('refuses a target label the dataset does not have', () => {
    expect(() => dataAttack({ name: 'backdoor', targetLabel: 10 }).poison(images(5), SeededRng.from('x'))).toThrowError(/targetLabel 10 is not a class of toy \(0\.\.9\)/);
  });

  it('builds a test set of triggered non-target examples labelled as the target (for attack success rate)', () => {
    const test = backdoorTestSet(images(30), 2, TRIGGER);
    expect(test.size).toBe(27);
    expect(Array.from(test.y).every((y) => y === 2)).toBe(true);
    for (let i = 0; i < test.size; i++) {
      expect(pixelsEqual(test.x, i * 784, 1)).toHaveLength(16);
      expect(test.x[i * 784]).not.toBeCloseTo(0.27, 6); // no example of class 2 (0.25 + 2/100) left
    }
  });
});

describe('label flipping', () => {
  it('maps y → C − 1 − y by default', () => {
    const ds = images(20);
    const flipped = dataAttack({ name: 'label-flip' }).poison(ds, SeededRng.from('lf'));
    expect(Array.from(flipped.y)).toEqual(Array.from(ds.y, (y) => 9 - y));
    expect(flipped.x).toBe(ds.x);
  });

  it('applies a mapping to a fraction of the examples; unmapped classes keep their label', () => {
    const ds = images(100);
    const flipped = dataAttack({ name: 'label-flip', mapping: { '7': 1 }, fraction: 0.5 }).poison(ds, SeededRng.from('lf'));
    let sevensFlipped = 0;
    ds.y.forEach((y, i) => {
      if (y === 7 && flipped.y[i] === 1) sevensFlipped++;
      else expect(flipped.y[i]).toBe(y);
    });
    expect(sevensFlipped).toBeGreaterThan(0);
    expect(sevensFlipped).toBeLessThan(10);
  });

  it('refuses mappings outside the classes', () => {
    expect(() => dataAttack({ name: 'label-flip', mapping: { '3': 12 } }).poison(images(5), SeededRng.from('x'))).toThrowError(/3 → 12 is outside the dataset's classes 0\.\.9/);
    expect(() => createAttack({ name: 'label-flip', mapping: { seven: 1 } })).toThrowError(/mapping\.seven: Invalid key in record/);
  });
});
