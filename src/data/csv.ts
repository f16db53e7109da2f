/**
 * Tabular data from a CSV file with a header row: one label column (numbers or class names) and
 * numeric feature columns, optionally scaled. Errors name the row, the column and the cell.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { fail } from '../core/errors.js';
import type { Dataset } from './dataset.js';

export const csvSourceSchema = z.object({
  kind: z.literal('csv'),
  path: z.string().min(1),
  labelColumn: z.string().min(1),
  /** Feature columns to use; default: every column except the label. */
  features: z.array(z.string().min(1)).optional(),
  scaling: z.enum(['standard', 'minmax', 'none']).default('standard'),
  delimiter: z.string().length(1).default(','),
}).strict();
export type CsvSource = z.infer<typeof csvSourceSchema>;

/** Column scaling fitted on one dataset (the training pool) and applied to others. */
export interface FeatureScaler {
  readonly kind: CsvSource['scaling'];
  readonly offset: Float32Array;
  readonly divisor: Float32Array;
}

/** Split one CSV line, honouring double quotes ("" is a literal quote). */
function splitLine(line: string, delimiter: string): string[] {
  const cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === delimiter) {
      cells.push(cell);
      cell = '';
    } else cell += ch;
  }
  cells.push(cell);
  return cells.map((c) => c.trim());
}

export function parseCsv(text: string, source: Omit<CsvSource, 'kind' | 'path'> & { name?: string }): { dataset: Dataset; classNames: string[] } {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length < 2) fail('data', 'CSV needs a header row and at least one data row');
  const header = splitLine(lines[0]!, source.delimiter);
  const labelIdx = header.indexOf(source.labelColumn);
  if (labelIdx < 0) fail('data', `label column "${source.labelColumn}" not found`, `the header has: ${header.join(', ')}`);
  const featureNames = source.features ?? header.filter((_, i) => i !== labelIdx);
  const featureIdx = featureNames.map((name) => {
    const idx = header.indexOf(name);
    if (idx < 0) fail('data', `feature column "${name}" not found`, `the header has: ${header.join(', ')}`);
    if (idx === labelIdx) fail('data', `column "${name}" is the label column and cannot also be a feature`);
    return idx;
  });
  if (featureIdx.length === 0) fail('data', 'CSV has no feature columns');

  const rows = lines.length - 1;
  const d = featureIdx.length;
  const x = new Float32Array(rows * d);
  const rawLabels: string[] = [];
  for (let r = 0; r < rows; r++) {
    const cells = splitLine(lines[r + 1]!, source.delimiter);
    const lineNo = r + 2;
    if (cells.length !== header.length) fail('data', `line ${lineNo} has ${cells.length} cells, the header has ${header.length}`);
    featureIdx.forEach((col, j) => {
      const cell = cells[col]!;
      const value = cell === '' ? NaN : Number(cell);
      if (!Number.isFinite(value)) fail('data', `line ${lineNo}, column "${header[col]}": "${cell}" is not a finite number`, 'clean or impute the cell, or drop the column from `features`');
      x[r * d + j] = value;
    });
    const label = cells[labelIdx]!;
    if (label === '') fail('data', `line ${lineNo}: empty label in column "${source.labelColumn}"`);
    rawLabels.push(label);
  }

  // Integer labels 0..k-1 are used as they are; anything else becomes classes in sorted order.
  const distinct = [...new Set(rawLabels)];
  const allIntegers = distinct.every((l) => /^\d+$/.test(l));
  const classNames = allIntegers
    ? Array.from({ length: Math.max(...distinct.map(Number)) + 1 }, (_, i) => String(i))
    : distinct.sort();
  const classIndex = new Map(classNames.map((c, i) => [c, i]));
  const y = Int32Array.from(rawLabels.map((l) => (allIntegers ? Number(l) : classIndex.get(l)!)));
  if (classNames.length < 2) fail('data', `label column "${source.labelColumn}" has only one class`);

  const dataset: Dataset = { name: source.name ?? 'csv', x, y, featureShape: [d], numClasses: classNames.length, size: rows };
  return { dataset, classNames };
}

export function loadCsv(source: CsvSource): { dataset: Dataset; classNames: string[] } {
  let text: string;
  try {
    text = readFileSync(source.path, 'utf8');
  } catch (err) {
    fail('io', `cannot read CSV file ${source.path}: ${(err as Error).message}`);
  }
  return parseCsv(text, { ...source, name: source.path });
}

export function fitScaler(ds: Dataset, kind: CsvSource['scaling']): FeatureScaler {
  const d = ds.x.length / ds.size;
  const offset = new Float32Array(d);
  const divisor = new Float32Array(d).fill(1);
  if (kind === 'none') return { kind, offset, divisor };
  for (let j = 0; j < d; j++) {
    let min = Infinity;
    let max = -Infinity;
    let sum = 0;
    let sumSq = 0;
    for (let i = 0; i < ds.size; i++) {
      const v = ds.x[i * d + j]!;
      min = Math.min(min, v);
      max = Math.max(max, v);
      sum += v;
      sumSq += v * v;
    }
    if (kind === 'minmax') {
      offset[j] = min;
      divisor[j] = max > min ? max - min : 1;
    } else {
      const mu = sum / ds.size;
      const sd = Math.sqrt(Math.max(0, sumSq / ds.size - mu * mu));
      offset[j] = mu;
      divisor[j] = sd > 0 ? sd : 1;
    }
  }
  return { kind, offset, divisor };
}

export function applyScaler(ds: Dataset, scaler: FeatureScaler): Dataset {
  const d = scaler.offset.length;
  const x = new Float32Array(ds.x.length);
  for (let i = 0; i < ds.x.length; i++) x[i] = (ds.x[i]! - scaler.offset[i % d]!) / scaler.divisor[i % d]!;
  return { ...ds, x };
}
