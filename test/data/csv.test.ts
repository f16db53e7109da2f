import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { applyScaler, csvSourceSchema, fitScaler, loadCsv, parseCsv } from '../../src/data/csv.js';

const base = { labelColumn: 'label', scaling: 'none' as const, delimiter: ',' };

describe('CSV loader', () => {
  it('parses features, integer labels and quoted cells', () => {
    const { dataset } = parseCsv('a,b,label\n1,2,0\n"3",4.5,1\n5,6,1\n', base);
    expect(dataset.size).toBe(3);
    expect(dataset.featureShape).toEqual([2]);
    expect(Array.from(dataset.x)).toEqual([1, 2, 3, 4.5, 5, 6]);
    expect(Array.from(dataset.y)).toEqual([0, 1, 1]);
    expect(dataset.numClasses).toBe(2);
  });

  it('maps string labels to sorted class indices and honours the feature list', () => {
    const { dataset, classNames } = parseCsv('x,y,z,kind\n1,2,3,setosa\n4,5,6,virginica\n7,8,9,setosa\n', { ...base, labelColumn: 'kind', features: ['z', 'x'] });
    expect(classNames).toEqual(['setosa', 'virginica']);
    expect(Array.from(dataset.y)).toEqual([0, 1, 0]);
    expect(Array.from(dataset.x)).toEqual([3, 1, 6, 4, 9, 7]);
  });

  it('names the missing column, the bad cell and the ragged line', () => {
    expect(() => parseCsv('a,b\n1,2\n', base)).toThrow(/label column "label" not found.*the header has: a, b/);
    expect(() => parseCsv('a,label\n1,0\nseven,1\n', base)).toThrow(/line 3, column "a": "seven" is not a finite number/);
    expect(() => parseCsv('a,label\n1,0\n,1\n', base)).toThrow(/line 3, column "a"/);
    expect(() => parseCsv('a,label\n1,0\n2\n', base)).toThrow(/line 3 has 1 cells, the header has 2/);
    expect(() => parseCsv('a,label\n1,0\n', { ...base, features: ['nope'] })).toThrow(/feature column "nope" not found/);
    expect(() => parseCsv('a,label\n1,0\n2,0\n', base)).toThrow(/only one class/);
    expect(() => loadCsv(csvSourceSchema.parse({ kind: 'csv', path: '/nonexistent.csv', labelColumn: 'l' }))).toThrow(/cannot read CSV/);
  });

  it('standardises and min-max scales with statistics of the fitted data', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fedsec-csv-'));
    const path = join(dir, 'd.csv');
    writeFileSync(path, 'a,b,label\n0,10,0\n2,10,1\n4,10,0\n');
    const { dataset } = loadCsv(csvSourceSchema.parse({ kind: 'csv', path, labelColumn: 'label' }));
    const std = applyScaler(dataset, fitScaler(dataset, 'standard'));
    const col = [0, 1, 2].map((i) => std.x[i * 2]!);
    expect(col.reduce((s, v) => s + v, 0)).toBeCloseTo(0, 6);
    expect(std.x[1]).toBe(0); // constant column: centred, not divided by zero
    const mm = applyScaler(dataset, fitScaler(dataset, 'minmax'));
    expect([0, 1, 2].map((i) => mm.x[i * 2])).toEqual([0, 0.5, 1]);
  });
});
