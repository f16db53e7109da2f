/**
 * Activation clustering (Chen et al., "Detecting Backdoor Attacks on Deep Neural Networks by
 * Activation Clustering", 2018). Poisoned examples reach their target class through the trigger,
 * not through the class's features, so in the penultimate layer they form their own cluster. Per
 * class: penultimate activations → PCA to ~10 dimensions (the paper uses ICA; PCA keeps us
 * dependency-free) → 2-means; a class whose smaller cluster is small (relative size below a limit)
 * and well separated (silhouette above a limit) is flagged, with that cluster's examples as suspects.
 *
 * It needs data that contains triggered examples: a participant's own training data, or a
 * coordinator's root/validation set that may have been poisoned. On clean data it finds nothing to
 * flag (by design: that is its true-negative case).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { fail } from '../core/errors.js';
import { SeededRng } from '../core/rng.js';
import type { Dataset } from '../data/dataset.js';
import { subset } from '../data/dataset.js';
import type { LocalModel } from '../model/local-model.js';
import { kMeans, silhouette } from './k-means.js';
import { fitPca, projectPca } from './pca.js';

export interface ActivationClusteringOptions {
  /** PCA dimensions (the paper reduces to 10). */
  readonly components: number;
  /** Flag when the smaller cluster holds less than this fraction of the class. */
  readonly maxRelativeSize: number;
  /** …but at least this fraction: a handful of odd examples is not a poisoned set. */
  readonly minRelativeSize: number;
  /** …and the two clusters are at least this well separated (mean silhouette). */
  readonly minSilhouette: number;
  /** Classes with fewer examples are skipped (too few to cluster meaningfully). */
  readonly minClassSize: number;
  /** At most this many examples per class (a seeded sample), bounding the O(n²) silhouette. */
  readonly maxPerClass: number;
  /** Segment by the data's labels (training data) or by the model's predictions (unlabelled data). */
  readonly groupBy: 'label' | 'prediction';
  readonly seed: number | string;
}

export interface ClassClusters {
  readonly target: number;
  readonly size: number;
  readonly smallClusterSize: number;
  readonly relativeSize: number;
  readonly silhouette: number;
  readonly flagged: boolean;
  /** Indices (into the input dataset) of the smaller cluster's examples, for flagged classes. */
  readonly suspects: readonly number[];
}

export interface ActivationClusteringResult {
  readonly perClass: readonly ClassClusters[];
  readonly flagged: readonly number[];
  /** Classes not examined, with why. */
  readonly skipped: readonly { readonly target: number; readonly reason: string }[];
}

const extractors = new WeakMap<tfl.LayersModel, tfl.LayersModel>();

/**
 * A model sharing `model`'s layers that outputs the input of its last weighted layer (the
 * classifier): the penultimate representation, whatever activation or softmax follows it.
 */
function penultimateModel(model: tfl.LayersModel): tfl.LayersModel {
  const cached = extractors.get(model);
  if (cached) return cached;
  const classifier = [...model.layers].reverse().find((l) => l.getWeights().length > 0);
  if (!classifier) fail('model', `model "${model.name}" has no weighted layer to take activations before`);
  const input = classifier.input;
  if (Array.isArray(input)) fail('model', `activation clustering needs a classifier layer with one input; "${classifier.name}" has ${input.length}`);
  if (!model.layers.slice(0, model.layers.indexOf(classifier)).some((l) => l.getWeights().length > 0)) {
    fail('model', `model "${model.name}" has no hidden layer (its classifier reads the input directly)`, 'activation clustering needs a model with a hidden layer, e.g. mlp or cnn');
  }
  const extractor = tfl.model({ inputs: model.inputs, outputs: input, name: `${model.name}_penultimate` });
  extractors.set(model, extractor);
  return extractor;
}

/** Penultimate-layer activations, n rows of `dim` values. */
export function penultimateActivations(model: LocalModel, ds: Dataset, batchSize = 500): { values: Float32Array; dim: number } {
  const extractor = penultimateModel(model.model);
  const shape = extractor.outputs[0]!.shape;
  const dim = shape.slice(1).reduce<number>((p, d) => p * (d ?? 1), 1);
  const values = new Float32Array(ds.size * dim);
  for (let start = 0; start < ds.size; start += batchSize) {
    const idx = Array.from({ length: Math.min(batchSize, ds.size - start) }, (_, k) => start + k);
    const { x, y } = model.batch(ds, idx);
    const out = tf.tidy(() => tf.reshape(extractor.apply(x, { training: false }) as tf.Tensor, [idx.length, dim]));
    values.set(out.dataSync() as Float32Array, start * dim);
    tf.dispose([x, y, out]);
  }
  return { values, dim };
}

export function activationClustering(model: LocalModel, ds: Dataset, o: ActivationClusteringOptions): ActivationClusteringResult {
  if (ds.size === 0) fail('data', 'activation clustering needs examples, got none');
  const groups = o.groupBy === 'label' ? ds.y : model.predict(ds);
  const rng = SeededRng.from(o.seed, 'activation-clustering');
  const perClass: ClassClusters[] = [];
  const skipped: { target: number; reason: string }[] = [];
  for (let target = 0; target < model.numClasses; target++) {
    let members: number[] = [];
    groups.forEach((g, i) => {
      if (g === target) members.push(i);
    });
    if (members.length < o.minClassSize) {
      skipped.push({ target, reason: `${members.length} example(s), fewer than minClassSize ${o.minClassSize}` });
      continue;
    }
    if (members.length > o.maxPerClass) members = rng.fork('sample', target).sampleIndices(members.length, o.maxPerClass).sort((a, b) => a - b).map((k) => members[k]!);
    const { values, dim } = penultimateActivations(model, subset(ds, members));
    const n = members.length;
    const pca = fitPca(values, n, dim, o.components, `${String(o.seed)}:${target}`);
    const k = pca.components.length;
    if (k === 0) {
      skipped.push({ target, reason: 'all activations are identical (a dead layer?)' });
      continue;
    }
    const points = projectPca(pca, values, n, dim);
    // Whiten (unit variance per component), as ICA does before its rotation: otherwise 2-means
    // splits the highest-variance direction (ordinary within-class variation, e.g. stroke
    // thickness) rather than the direction where the poisoned examples stand apart.
    for (let i = 0; i < n; i++) for (let c = 0; c < k; c++) points[i * k + c] = points[i * k + c]! / Math.sqrt(pca.eigenvalues[c]!);
    const clusters = kMeans(points, n, k, 2, `${String(o.seed)}:${target}`);
    const small = clusters.sizes[0]! <= clusters.sizes[1]! ? 0 : 1;
    const smallClusterSize = clusters.sizes[small]!;
    const relativeSize = smallClusterSize / n;
    const sil = silhouette(points, n, k, clusters.labels, 2);
    const flagged = relativeSize < o.maxRelativeSize && relativeSize >= o.minRelativeSize && sil >= o.minSilhouette && smallClusterSize > 0;
    perClass.push({
      target, size: n, smallClusterSize, relativeSize, silhouette: sil, flagged,
      suspects: flagged ? members.filter((_, i) => clusters.labels[i] === small) : [],
    });
  }
  return { perClass, flagged: perClass.filter((c) => c.flagged).map((c) => c.target), skipped };
}
