import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deserializeParams, flatten, makeLayout, sameLayout, serializeParams, unflatten } from '../../src/core/params.js';

const shapes = fc.array(fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 0, maxLength: 3 }), { minLength: 1, maxLength: 5 });

describe('flat parameters', () => {
  it('flatten ∘ unflatten is the identity (property)', () => {
    fc.assert(
      fc.property(shapes, fc.integer(), (shapeList, seed) => {
        const layout = makeLayout(shapeList.map((shape, i) => ({ name: `t${i}`, shape })));
        const values = Float32Array.from({ length: layout.size }, (_, i) => Math.fround(Math.sin(seed + i)));
        const parts = unflatten(layout, values).map((p) => Float32Array.from(p));
        expect(parts.map((p) => p.length)).toEqual(layout.entries.map((e) => e.size));
        expect(flatten(layout, parts)).toEqual(values);
      }),
    );
  });

  it('serialises and deserialises losslessly (property)', () => {
    fc.assert(
      fc.property(shapes, fc.float({ noNaN: true }), (shapeList, x) => {
        const layout = makeLayout(shapeList.map((shape, i) => ({ name: `layer${i}/kernel`, shape })));
        const values = Float32Array.from({ length: layout.size }, (_, i) => x * (i + 1));
        const back = deserializeParams(serializeParams({ layout, values }));
        expect(sameLayout(back.layout, layout)).toBe(true);
        expect(back.values).toEqual(values);
      }),
    );
  });

  it('rejects malformed blobs with a clear error', () => {
    const layout = makeLayout([{ name: 'w', shape: [2, 3] }]);
    const good = serializeParams({ layout, values: new Float32Array(6) });
    expect(() => deserializeParams(Buffer.from('nope'))).toThrow(/bad magic/);
    expect(() => deserializeParams(good.subarray(0, good.length - 4))).toThrow(/expected/);
    const badHeader = Buffer.from(good);
    badHeader.write('X', 9);
    expect(() => deserializeParams(badHeader)).toThrow(/header/);
    expect(() => deserializeParams(good, 5)).toThrow(/limit/);
  });

  it('rejects inconsistent layouts', () => {
    expect(() => makeLayout([{ name: 'a', shape: [1] }, { name: 'a', shape: [2] }])).toThrow(/duplicate/);
    const layout = makeLayout([{ name: 'a', shape: [2] }]);
    expect(() => unflatten(layout, new Float32Array(3))).toThrow(/layout expects 2/);
    expect(() => flatten(layout, [new Float32Array(1)])).toThrow(/has 1 values/);
  });
});
