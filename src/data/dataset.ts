/**
 * A labelled dataset held as flat typed arrays: example i's features are
 * x[i*featureSize .. (i+1)*featureSize), its label y[i] in [0, numClasses).
 */
import { fail } from '../core/errors.js';

export interface Dataset {
  readonly name: string;
  readonly x: Float32Array;
  readonly y: Int32Array;
  /** Shape of one example, e.g. [28, 28, 1] for MNIST or [d] for tabular data. */
  readonly featureShape: readonly number[];
  readonly numClasses: number;
  readonly size: number;
}

export function featureSize(ds: Pick<Dataset, 'featureShape'>): number {
  return ds.featureShape.reduce((p, d) => p * d, 1);
}

/** A new dataset holding the given examples (copied, in the given order). */
export function subset(ds: Dataset, indices: readonly number[], name = ds.name): Dataset {
  const f = featureSize(ds);
  const x = new Float32Array(indices.length * f);
  const y = new Int32Array(indices.length);
  indices.forEach((idx, k) => {
    if (!Number.isInteger(idx) || idx < 0 || idx >= ds.size) fail('data', `index ${idx} out of range for dataset of ${ds.size}`);
    x.set(ds.x.subarray(idx * f, (idx + 1) * f), k * f);
    y[k] = ds.y[idx]!;
  });
  return { name, x, y, featureShape: ds.featureShape, numClasses: ds.numClasses, size: indices.length };
}

export function labelCounts(ds: Pick<Dataset, 'y' | 'numClasses'>): number[] {
  const counts = new Array<number>(ds.numClasses).fill(0);
  for (const label of ds.y) counts[label] = (counts[label] ?? 0) + 1;
  return counts;
}
