/**
 * A participant's local data for `fedsec join`: a CSV file (scaled locally, labels mapped to the
 * federation's class order) or, for demos and tests, one partition of a built-in pool split
 * exactly as `fedsec simulate` splits it (same partitioner, same seed → same examples).
 */
import { fail } from '../core/errors.js';
import { SeededRng } from '../core/rng.js';
import { applyScaler, fitScaler, loadCsv } from '../data/csv.js';
import { featureSize, subset, type Dataset } from '../data/dataset.js';
import { loadMnist } from '../data/mnist.js';
import { partition } from '../data/partition.js';
import type { ParticipantConfig } from './participant-config.js';

export function loadParticipantData(data: ParticipantConfig['data']): Dataset {
  let pool: Dataset;
  const source = data.dataset;
  if (source.kind === 'mnist') {
    pool = loadMnist().train;
  } else {
    const { dataset, classNames } = loadCsv(source);
    const mapped = source.classes ? remapLabels(dataset, classNames, source.classes, source.path) : dataset;
    pool = applyScaler(mapped, fitScaler(mapped, source.scaling));
  }
  let ds = pool;
  if (data.partition) {
    const { index, of, seed, spec } = data.partition;
    const parts = partition(pool.y, pool.numClasses, of, spec, SeededRng.from(seed, 'partition'));
    ds = subset(pool, parts[index] ?? [], `${pool.name}[partition ${index} of ${of}]`);
  }
  if (data.limit !== undefined && data.limit < ds.size) ds = subset(ds, Array.from({ length: data.limit }, (_, i) => i), ds.name);
  if (ds.size === 0) fail('data', `the local dataset ${ds.name} is empty`, 'use another partition index, fewer partitions, or a larger data.limit');
  return ds;
}

/** Local class indices (sorted local names) → positions in the federation's `classes` list. */
function remapLabels(ds: Dataset, local: readonly string[], classes: readonly string[], path: string): Dataset {
  const index = new Map(classes.map((c, i) => [c, i]));
  const map = local.map((name) => {
    const k = index.get(name);
    if (k === undefined) fail('data', `${path} has label "${name}", which is not in data.dataset.classes (${classes.join(', ')})`, 'add it to classes (in the same order on every participant) or drop those rows');
    return k;
  });
  return { ...ds, y: Int32Array.from(ds.y, (label) => map[label] ?? -1), numClasses: classes.length };
}

/** Fits local data to the model the coordinator announced: same features per example, labels in range. */
export function conformToFederation(ds: Dataset, featureShape: readonly number[], numClasses: number): Dataset {
  const expected = featureShape.reduce((p, d) => p * d, 1);
  const have = featureSize(ds);
  if (have !== expected) {
    fail('data', `the local data has ${have} features per example, the federation's model expects ${expected} ([${featureShape.join(', ')}])`, 'check data.dataset (features, labelColumn) in participant.yaml');
  }
  let max = -1;
  for (const label of ds.y) max = Math.max(max, label);
  if (max >= numClasses) {
    fail('data', `the local data has label ${max}, the federation's model has ${numClasses} classes (0..${numClasses - 1})`, 'map labels with data.dataset.classes, in the federation order');
  }
  return { ...ds, featureShape: [...featureShape], numClasses };
}
